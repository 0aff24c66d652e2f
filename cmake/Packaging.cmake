# What an installation holds besides the programs and libraries (the systemd unit, the
# documentation and its examples, the licence), and the Debian packages that `make package`
# makes with CPack: plughost (the launcher, its library and modules, man page, completion, unit,
# docs) and plughost-dev (headers, archive, CMake and pkg-config files), each with a -dbgsym
# holding the debug information that the packages' stripped files leave out.
# docs/deployment.md says why CPack rather than debhelper.

# The systemd unit (an instance per configuration: plughost@NAME.service), its ExecStart= on the
# installed plughost.
configure_file(${CMAKE_CURRENT_LIST_DIR}/install-units.cmake.in
               ${CMAKE_BINARY_DIR}/packaging/install-units.cmake @ONLY)
install(SCRIPT ${CMAKE_BINARY_DIR}/packaging/install-units.cmake COMPONENT Runtime)

# Documentation, its copyable examples, the licence and (Debian's format) copyright and
# changelog, for each package's /usr/share/doc/PACKAGE.
set(plughost_changelog ${CMAKE_BINARY_DIR}/packaging/changelog.gz)
add_custom_command(OUTPUT ${plughost_changelog}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/packaging
  COMMAND sh -c "gzip -9nc \"$1\" > \"$2\"" sh ${PROJECT_SOURCE_DIR}/packaging/debian/changelog
          ${plughost_changelog}
  DEPENDS ${PROJECT_SOURCE_DIR}/packaging/debian/changelog VERBATIM)
add_custom_target(plughost_changelog ALL DEPENDS ${plughost_changelog})
set(plughost_doc_runtime ${CMAKE_INSTALL_DATADIR}/doc/plughost)
set(plughost_doc_development ${CMAKE_INSTALL_DATADIR}/doc/plughost-dev)
foreach(pair "Runtime;${plughost_doc_runtime}" "Development;${plughost_doc_development}")
  list(GET pair 0 component)
  list(GET pair 1 folder)
  install(FILES ${PROJECT_SOURCE_DIR}/packaging/debian/copyright ${plughost_changelog}
          DESTINATION ${folder} COMPONENT ${component})
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/NOTICE
              ${PROJECT_SOURCE_DIR}/README.md
        DESTINATION ${plughost_doc_runtime} COMPONENT Runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${plughost_doc_runtime} COMPONENT Runtime
        FILES_MATCHING PATTERN "*.md"
        PATTERN "examples" EXCLUDE)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/examples/operations/
        DESTINATION ${plughost_doc_runtime}/examples/operations COMPONENT Runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/examples/embedding/
                  ${PROJECT_SOURCE_DIR}/docs/examples/awk-runner
                  ${PROJECT_SOURCE_DIR}/docs/examples/csv-sink
        DESTINATION ${plughost_doc_development}/examples COMPONENT Development)

# ---- the Debian packages ---------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME plughost)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "plughost maintainers <plughost@example.org>")
set(CPACK_PACKAGE_VENDOR "The plughost authors")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Not CPACK_STRIP_FILES: the DEB generator strips the files itself once it has taken their
# debug information for the -dbgsym packages (stripped before, there would be none).
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL Runtime Development)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/LMCache/plughost")
# Depends: the Debian packages of the libraries the files link against, from dpkg-shlibdeps.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY "=")
# The debug information, by build id, in plughost-dbgsym and plughost-dev-dbgsym (.ddeb).
set(CPACK_DEBIAN_DEBUGINFO_PACKAGE ON)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME plughost)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION admin)
# LMCache's plugins are Python and Bash; the node and perl runners need their interpreters.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_RECOMMENDS "python3, tzdata")  # tzdata: schedules in time zones
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SUGGESTS "nodejs, perl, rsyslog, logrotate")
# The long description's lines: CPack indents them by one space.
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "plugin host for LMCache deployments
plughost starts the LMCache runtime plugins meant for a process's role and
worker id (Python and Bash scripts, and any language a runner module adds),
captures their output line by line with the plugin's name, sends it to
standard output, files, JSON lines or syslog, restarts and times out plugins
on request, and stops every one of them when it exits, even when killed.
.
This package holds the plughost launcher, its library, the built-in runner
and sink modules, the systemd unit plughost@.service, the man page and the
bash and zsh completion.")
# libplughost is a shared library in a public folder: ldconfig runs after installing it (the
# trigger); the maintainer scripts tell systemd of the unit and stop its instances on removal.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/triggers ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME plughost-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
# The headers include Boost's; find_package(plughost) finds the libraries the archive needs.
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
    "plughost (= ${PROJECT_VERSION}), libboost1.81-dev, libyaml-cpp-dev, libtomlplusplus-dev, nlohmann-json3-dev, libspdlog-dev, libfmt-dev")
set(CPACK_COMPONENT_DEVELOPMENT_DESCRIPTION "plugin host for LMCache deployments (development files)
The C and C++ headers, the static library, and the CMake and pkg-config
files, for embedding plughost in a program and for building runner and sink
modules outside plughost's tree.")

include(CPack)
