# The Debian package (cmake --workflow --preset package): the runtime component only.
set(CPACK_PACKAGE_NAME toucan-token)
set(CPACK_PACKAGE_VENDOR "toucan-token developers")
set(CPACK_PACKAGE_CONTACT "toucan-token developers <maintainers@toucan-token.invalid>"
  CACHE STRING "The Maintainer field of the Debian package")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "mint Toucan embed tokens from scripts and CI jobs")
set(CPACK_PACKAGE_DESCRIPTION
  "toucan-token calls a Toucan instance's embed token endpoint with an API key
taken from the environment or a file, checks the reply, and prints the token
as JSON, a bare token, an Authorization header or shell variables. It mints
one token, or one per line of a JSON Lines file over reused connections.")
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_CURRENT_SOURCE_DIR}/LICENSE)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL runtime)

set(CPACK_GENERATOR DEB)
# One package made of the components listed in CPACK_COMPONENTS_ALL (a monolithic package would
# take every component, headers and library included).
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # toucan-token_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# dpkg-shlibdeps reads the binary's real links (libcurl, libssl, toml++, libstdc++, libc) and
# names each library's package with the lowest version that has the symbols we call: its own
# floor for libcurl (7.83, for curl_easy_header) is above every release that lacks an option we
# set, as no Debian or Ubuntu release ships libcurl 7.83-7.86. libcurl only
# recommends ca-certificates and slim images skip recommends, but without it no https:// URL
# verifies: a hard dependency.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS ca-certificates)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS bash-completion)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
