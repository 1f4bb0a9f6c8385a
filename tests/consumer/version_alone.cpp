// Compiles the public header <toucan/version.hpp> alone: it includes what it uses.
#include <toucan/version.hpp>
