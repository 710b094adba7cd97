# libfrugalnn: the C API (include/frugalnn.h) over the same core and kernel objects as the Python
# module, as a shared and a static library, with a CMake package (find_package(frugalnn)) and a
# pkg-config file. Included by CMakeLists.txt when FRUGALNN_CAPI is ON.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The ABI version is the header's; it is also the shared library's SONAME version.
file(STRINGS "${CMAKE_CURRENT_SOURCE_DIR}/include/frugalnn.h" FNN_ABI_LINE
     REGEX "^#define FRUGALNN_ABI_VERSION [0-9]+$")
string(REGEX REPLACE "^#define FRUGALNN_ABI_VERSION ([0-9]+)$" "\\1" FNN_ABI_VERSION "${FNN_ABI_LINE}")
if(NOT FNN_ABI_VERSION)
  message(FATAL_ERROR "include/frugalnn.h defines no FRUGALNN_ABI_VERSION")
endif()

# The header's version macros must be the project's (pyproject.toml's) version.
foreach(part MAJOR MINOR PATCH)
  file(STRINGS "${CMAKE_CURRENT_SOURCE_DIR}/include/frugalnn.h" FNN_LINE
       REGEX "^#define FRUGALNN_VERSION_${part} [0-9]+$")
  string(REGEX REPLACE "^.* ([0-9]+)$" "\\1" FNN_HEADER_${part} "${FNN_LINE}")
endforeach()
if(NOT "${FNN_HEADER_MAJOR}.${FNN_HEADER_MINOR}.${FNN_HEADER_PATCH}" STREQUAL "${PROJECT_VERSION}")
  message(FATAL_ERROR "include/frugalnn.h says version ${FNN_HEADER_MAJOR}.${FNN_HEADER_MINOR}."
                      "${FNN_HEADER_PATCH}, pyproject.toml ${PROJECT_VERSION}")
endif()

# The API's own sources are compiled once and go into both libraries.
add_library(fnn_capi OBJECT ${FNN_CAPI_SOURCES})
target_include_directories(fnn_capi PRIVATE csrc include)
target_compile_options(fnn_capi PRIVATE ${FNN_WARNINGS})
target_compile_definitions(fnn_capi PRIVATE FRUGALNN_BUILDING=1 FRUGALNN_VERSION="${PROJECT_VERSION}")
set(FNN_CAPI_OBJECTS $<TARGET_OBJECTS:fnn_capi> ${FNN_OBJECTS})

add_library(frugalnn SHARED ${FNN_CAPI_OBJECTS})
add_library(frugalnn_static STATIC ${FNN_CAPI_OBJECTS})
set_target_properties(frugalnn PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${FNN_ABI_VERSION})
# libfrugalnn.a next to libfrugalnn.so: `-lfrugalnn -static` and pkg-config --static find it.
set_target_properties(frugalnn_static PROPERTIES OUTPUT_NAME frugalnn)
# Only the frugalnn_* functions are exported (FRUGALNN_API; the rest is -fvisibility=hidden
# and the version script hides the std:: template instances).
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang" AND NOT APPLE)
  target_link_options(frugalnn PRIVATE -Wl,--version-script=${CMAKE_CURRENT_SOURCE_DIR}/cmake/frugalnn.map
                      -Wl,--no-undefined)
  set_property(TARGET frugalnn APPEND PROPERTY LINK_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cmake/frugalnn.map)
endif()
foreach(lib frugalnn frugalnn_static)
  target_include_directories(${lib} PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
                                           $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  if(FRUGALNN_SANITIZE)
    # A consumer of an instrumented library must link the sanitizer runtimes itself.
    target_link_options(${lib} INTERFACE -fsanitize=address,undefined)
  elseif(FRUGALNN_TSAN)
    target_link_options(${lib} INTERFACE -fsanitize=thread)
  endif()
endforeach()
target_link_libraries(frugalnn PRIVATE Threads::Threads)
# A C program linking the static library needs the C++ runtime and threads too.
target_link_libraries(frugalnn_static INTERFACE Threads::Threads)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU")
  target_link_libraries(frugalnn_static INTERFACE stdc++ m)
endif()
set_target_properties(frugalnn PROPERTIES EXPORT_NAME frugalnn)
set_target_properties(frugalnn_static PROPERTIES EXPORT_NAME frugalnn_static)

# Installed only on request in a Python build (the wheel must not carry them).
if(FRUGALNN_PYTHON)
  set(FNN_CAPI_INSTALL COMPONENT capi EXCLUDE_FROM_ALL)
else()
  set(FNN_CAPI_INSTALL COMPONENT capi)
endif()
set(FNN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/frugalnn)
install(TARGETS frugalnn frugalnn_static EXPORT frugalnnTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} ${FNN_CAPI_INSTALL}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} ${FNN_CAPI_INSTALL}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} ${FNN_CAPI_INSTALL})
install(FILES include/frugalnn.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} ${FNN_CAPI_INSTALL})
install(EXPORT frugalnnTargets NAMESPACE frugalnn:: DESTINATION ${FNN_CMAKE_DIR} ${FNN_CAPI_INSTALL})
configure_package_config_file(cmake/frugalnnConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/frugalnnConfig.cmake
                              INSTALL_DESTINATION ${FNN_CMAKE_DIR})
# 0.x: a minor release may change the API, so only the same minor version is compatible.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/frugalnnConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
file(RELATIVE_PATH FNN_PC_TO_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
set(FNN_PC_LINK_FLAGS "")
if(FRUGALNN_SANITIZE)
  set(FNN_PC_LINK_FLAGS " -fsanitize=address,undefined")
elseif(FRUGALNN_TSAN)
  set(FNN_PC_LINK_FLAGS " -fsanitize=thread")
endif()
configure_file(cmake/frugalnn.pc.in ${CMAKE_CURRENT_BINARY_DIR}/frugalnn.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/frugalnnConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/frugalnnConfigVersion.cmake
        DESTINATION ${FNN_CMAKE_DIR} ${FNN_CAPI_INSTALL})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/frugalnn.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig ${FNN_CAPI_INSTALL})
