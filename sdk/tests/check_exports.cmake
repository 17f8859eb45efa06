# cmake -DNM=nm -DPLUGIN=x.so -P check_exports.cmake: fails unless the plugin's dynamic symbol
# table defines exactly ossa_plugin_info, ossa_plugin_init and ossa_plugin_shutdown.
execute_process(COMMAND ${NM} -D --defined-only ${PLUGIN}
                OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${PLUGIN}")
endif()
string(REGEX MATCHALL "[^\n]+" lines "${out}")
set(names "")
foreach(line IN LISTS lines)
  string(REGEX REPLACE "^.* " "" name "${line}")
  list(APPEND names ${name})
endforeach()
list(SORT names)
set(expected ossa_plugin_info ossa_plugin_init ossa_plugin_shutdown)
if(NOT names STREQUAL expected)
  message(FATAL_ERROR "${PLUGIN} exports [${names}], expected exactly [${expected}]")
endif()
message(STATUS "${PLUGIN} exports exactly: ${names}")
