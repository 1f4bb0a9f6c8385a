# Install layout, in two components:
#   runtime      the program, its manual page, shell completions, copyright and changelog
#                (what the .deb holds)
#   development  headers, the static library and the CMake package for find_package(toucan-token)
include(CMakePackageConfigHelpers)

install(TARGETS toucan-token RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)

# Each shell's standard place for completions that a package ships.
install(FILES completions/toucan-token.bash RENAME toucan-token
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions COMPONENT runtime)
install(FILES completions/_toucan-token
  DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions COMPONENT runtime)
install(FILES completions/toucan-token.fish
  DESTINATION ${CMAKE_INSTALL_DATADIR}/fish/vendor_completions.d COMPONENT runtime)
install(FILES LICENSE RENAME copyright
  DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)

set(TOUCAN_CMAKE_PACKAGE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/toucan-token)
install(TARGETS toucan_lib EXPORT toucan-token-targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  FILE_SET HEADERS COMPONENT development
  FILE_SET generated COMPONENT development)
install(EXPORT toucan-token-targets NAMESPACE toucan-token::
  DESTINATION ${TOUCAN_CMAKE_PACKAGE_DIR} COMPONENT development)
configure_package_config_file(cmake/toucan-token-config.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/toucan-token-config.cmake
  INSTALL_DESTINATION ${TOUCAN_CMAKE_PACKAGE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/toucan-token-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/toucan-token-config.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/toucan-token-config-version.cmake
  DESTINATION ${TOUCAN_CMAKE_PACKAGE_DIR} COMPONENT development)
