#pragma once
// What the user can change after a failure, in the CLI's words: the library's messages say what
// happened and tag what it was about (Error::cause); only the CLI knows its flags.
#include <string>

#include "toucan/error.hpp"

namespace toucan {

// The error's message followed by the hint for its cause, if any: what the CLI prints.
std::string WithHint(const Error& error);

}  // namespace toucan
