# cpp-httplib for the stand-in and the integration tests: toucan_httplib, an interface target.
#
# Debian's and Ubuntu's cpp-httplib ship a pkg-config file and no CMake config. Its library is
# split: part is compiled into libcpp-httplib.so, part stays inline in httplib.h and so is
# compiled into our own objects, with the OpenSSL, zlib and brotli support its Cflags switch on.
# Those inline parts call OpenSSL directly (Debian 13's 0.18 calls OPENSSL_thread_stop, for one),
# so whoever includes httplib.h must link what the file lists as Requires.private too, not only
# its Libs: the linker refuses symbols that come only through libcpp-httplib.so's own links
# ("DSO missing from command line"). The modules are read from the file, not listed here.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET GLOBAL cpp-httplib)
execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --print-requires-private cpp-httplib
  OUTPUT_VARIABLE httplib_requires RESULT_VARIABLE httplib_status ERROR_VARIABLE httplib_error)
if(NOT httplib_status EQUAL 0)
  message(FATAL_ERROR "pkg-config --print-requires-private cpp-httplib failed: ${httplib_error}")
endif()
# One module a line, "openssl >= 3.0.0": pkg_check_modules takes it as "openssl>=3.0.0".
string(REPLACE " " "" httplib_requires "${httplib_requires}")
string(STRIP "${httplib_requires}" httplib_requires)
string(REPLACE "\n" ";" httplib_requires "${httplib_requires}")

add_library(toucan_httplib INTERFACE)
target_link_libraries(toucan_httplib INTERFACE PkgConfig::HTTPLIB Threads::Threads)
if(httplib_requires)
  pkg_check_modules(HTTPLIB_REQUIRES REQUIRED IMPORTED_TARGET GLOBAL ${httplib_requires})
  target_link_libraries(toucan_httplib INTERFACE PkgConfig::HTTPLIB_REQUIRES)
endif()
