# `cmake --install`: the program (bin/), its data (share/clippo/: the default model, configs,
# prompt and class files), the library with its public headers, a CMake package
# (find_package(clippo) -> clippo::clippo) and a pkg-config file (clippo.pc).
# Included by CMakeLists.txt after the targets clippo and clippo_cli exist.
include(CMakePackageConfigHelpers)

set(CLIPPO_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/clippo)
add_library(clippo::clippo ALIAS clippo)
set_target_properties(clippo PROPERTIES EXPORT_NAME clippo)
# A sanitized library needs its runtime in every program that links it.
if(CLIPPO_SANITIZE)
  target_link_options(clippo INTERFACE -fsanitize=address,undefined)
endif()

install(TARGETS clippo_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_SOURCE_DIR}/weights/fmnist.h5 ${CMAKE_SOURCE_DIR}/weights/README.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/clippo/weights)
install(PROGRAMS ${CMAKE_SOURCE_DIR}/weights/get-unifont.sh
        DESTINATION ${CMAKE_INSTALL_DATADIR}/clippo/weights)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/configs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/clippo/configs)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/clippo DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(TARGETS clippo EXPORT clippoTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# The packages behind clippo's link interface: the CMake package re-finds each imported target
# (find_dependency, or pkg_check_modules for PkgConfig::NAME), the pkg-config file requires its
# module or lists its library file. Plain library paths and names are passed on as they are.
# Known imported targets: "TARGET=CMake package=pkg-config module" (module "" = library file).
set(CLIPPO_DEP_TABLE
    "OpenCL::OpenCL=OpenCL=OpenCL" "clblast=CLBlast=clblast" "Freetype::Freetype=Freetype=freetype2"
    "PNG::PNG=PNG=libpng" "JPEG::JPEG=JPEG=libjpeg" "GIF::GIF=GIF=" "cjson=cJSON=libcjson"
    "Threads::Threads=Threads=" "DNNL::dnnl=dnnl=")
get_target_property(_clippo_deps clippo INTERFACE_LINK_LIBRARIES)
set(CLIPPO_FIND_DEPENDENCIES "")
set(CLIPPO_PC_REQUIRES "")
set(CLIPPO_PC_LIBS "")
foreach(dep IN LISTS _clippo_deps)
  if(dep MATCHES "^\\$<" OR dep MATCHES "^-")
    continue()
  elseif(dep MATCHES "^PkgConfig::(.+)$")
    set(_prefix ${CMAKE_MATCH_1})
    string(APPEND CLIPPO_FIND_DEPENDENCIES
           "if(NOT TARGET ${dep})\n  pkg_check_modules(${_prefix} REQUIRED IMPORTED_TARGET "
           "${${_prefix}_MODULE_NAME})\nendif()\n")
    string(APPEND CLIPPO_PC_REQUIRES " ${${_prefix}_MODULE_NAME}")
  elseif(TARGET ${dep})
    set(_found "")
    foreach(row IN LISTS CLIPPO_DEP_TABLE)
      string(REPLACE "=" ";" row "${row}")
      list(GET row 0 _target)
      if(dep STREQUAL _target)
        set(_found 1)
        list(GET row 1 _package)
        list(LENGTH row _n)
        set(_module "")
        if(_n GREATER 2)
          list(GET row 2 _module)
        endif()
      endif()
    endforeach()
    if(NOT _found)
      message(FATAL_ERROR "clippo links ${dep}: add it to CLIPPO_DEP_TABLE in "
                          "cmake/ClippoInstall.cmake (its CMake package and pkg-config module)")
    endif()
    string(APPEND CLIPPO_FIND_DEPENDENCIES "find_dependency(${_package})\n")
    if(dep STREQUAL "Threads::Threads")
      string(APPEND CLIPPO_PC_LIBS " -pthread")
    elseif(_module)
      string(APPEND CLIPPO_PC_REQUIRES " ${_module}")
    else()
      string(APPEND CLIPPO_PC_LIBS " $<TARGET_LINKER_FILE:${dep}>")
    endif()
  elseif(IS_ABSOLUTE "${dep}")
    string(APPEND CLIPPO_PC_LIBS " ${dep}")
  else()
    string(APPEND CLIPPO_PC_LIBS " -l${dep}")
  endif()
endforeach()
if(CLIPPO_SANITIZE)
  string(APPEND CLIPPO_PC_LIBS " -fsanitize=address,undefined")
endif()

# CMake package: find_package(clippo) -> clippo::clippo
install(EXPORT clippoTargets NAMESPACE clippo:: DESTINATION ${CLIPPO_INSTALL_CMAKEDIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/clippoConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/clippoConfig.cmake
                              INSTALL_DESTINATION ${CLIPPO_INSTALL_CMAKEDIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/clippoConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/clippoConfig.cmake ${CMAKE_BINARY_DIR}/clippoConfigVersion.cmake
        DESTINATION ${CLIPPO_INSTALL_CMAKEDIR})

# pkg-config: the static library lists its whole link interface. Its prefix is relative to the
# .pc file, so that `cmake --install --prefix P` works for any P.
file(RELATIVE_PATH CLIPPO_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig
     ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" CLIPPO_PC_TO_PREFIX "${CLIPPO_PC_TO_PREFIX}")
configure_file(${CMAKE_SOURCE_DIR}/cmake/clippo.pc.in ${CMAKE_BINARY_DIR}/clippo.pc.gen @ONLY)
file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/clippo.pc INPUT ${CMAKE_BINARY_DIR}/clippo.pc.gen)
install(FILES ${CMAKE_BINARY_DIR}/clippo.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
