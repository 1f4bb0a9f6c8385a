// Compiles the public header <toucan/client.hpp> alone: it includes what it uses.
#include <toucan/client.hpp>
