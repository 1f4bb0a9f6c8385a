// Compiles the public header <toucan/error.hpp> alone: it includes what it uses.
#include <toucan/error.hpp>
