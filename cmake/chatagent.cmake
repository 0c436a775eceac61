# Shared settings for the project's own targets.
function(chatagent_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  target_compile_definitions(${target} PRIVATE SPDLOG_FMT_EXTERNAL)
endfunction()

# One static library per top-level folder: chatagent_<name>.
function(chatagent_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC;PRIVATE" ${ARGN})
  add_library(chatagent_${name} STATIC ${ARG_SOURCES})
  add_library(chatagent::${name} ALIAS chatagent_${name})
  target_include_directories(chatagent_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(chatagent_${name} PUBLIC ${ARG_PUBLIC} PRIVATE ${ARG_PRIVATE})
  chatagent_defaults(chatagent_${name})
endfunction()
