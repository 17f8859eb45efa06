# Architecture check (issue 7 item 4): the index is reached only through index::Index
# (core/index/index.h), so a second backend changes nothing outside core/index. Fails when a source
# file outside core/index includes SQLite (sqlite3.h) or a header of the SQLite backend
# (index/sqlite.h, index/sqlite_index.h, index/sqlite_leases.h, any index/sqlite*.h).
#
#   cmake -DROOT=<source tree> -P index_boundary.cmake
#   cmake -DROOT=<scratch dir> -DSELF_TEST=ON -P index_boundary.cmake   (plants a violation: must fail)
#
# Scanned: everything under core/ but core/index, and xmlrpc/ and plugins/.
# Allowed, by exact path, to include sqlite3.h (never the backend's headers):
#   core/app/simple_commands.cpp      `ossa version` prints the SQLite library version
#   plugins/worklist/src/entry_store.cpp, plugins/hl7/src/journal.cpp
#                                     those plugins' own databases (their files, not the index)
cmake_minimum_required(VERSION 3.16)

if(NOT ROOT)
  message(FATAL_ERROR "index_boundary.cmake: pass -DROOT=<source tree>")
endif()

if(SELF_TEST)
  # A file that leaks the backend into the HTTP code: the check below must report it.
  file(REMOVE_RECURSE "${ROOT}")
  file(WRITE "${ROOT}/core/http/leak.cpp" "#include \"index/sqlite_index.h\"\n")
  file(WRITE "${ROOT}/xmlrpc/leak.h" "#  include <sqlite3.h>\n")
  file(WRITE "${ROOT}/core/http/fine.cpp" "#include \"index/index.h\"\n")
endif()

set(allowed_sqlite3
    core/app/simple_commands.cpp
    plugins/worklist/src/entry_store.cpp
    plugins/hl7/src/journal.cpp)

set(files)
foreach(dir core xmlrpc plugins)
  file(GLOB_RECURSE found RELATIVE "${ROOT}"
       "${ROOT}/${dir}/*.h" "${ROOT}/${dir}/*.hpp" "${ROOT}/${dir}/*.c" "${ROOT}/${dir}/*.cc"
       "${ROOT}/${dir}/*.cpp")
  list(APPEND files ${found})
endforeach()

set(violations "")
set(scanned 0)
foreach(f ${files})
  if(f MATCHES "^core/index/")
    continue()  # the backends themselves
  endif()
  math(EXPR scanned "${scanned} + 1")
  file(STRINGS "${ROOT}/${f}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  foreach(line ${includes})
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]*)[>\"].*$" "\\1" header "${line}")
    if(header MATCHES "(^|/)index/sqlite[^/]*\\.h$" OR header MATCHES "(^|/)sqlite_index\\.h$")
      string(APPEND violations "  ${f}: #include ${header} (the SQLite backend; use index/index.h)\n")
    elseif(header MATCHES "(^|/)sqlite3\\.h$")
      list(FIND allowed_sqlite3 "${f}" at)
      if(at EQUAL -1)
        string(APPEND violations "  ${f}: #include ${header} (only core/index may use SQLite)\n")
      endif()
    endif()
  endforeach()
endforeach()

if(scanned EQUAL 0)
  message(FATAL_ERROR "index_boundary.cmake: no source files under ${ROOT}")
endif()
if(violations)
  message(FATAL_ERROR "The index's SQLite backend leaks out of core/index:\n${violations}"
                      "Reach the index through index::Index (core/index/index.h) and "
                      "index::open_index (core/index/open_index.h).")
endif()
message(STATUS "index boundary: ${scanned} files outside core/index, none includes SQLite")
