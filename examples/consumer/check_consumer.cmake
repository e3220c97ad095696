# Installs a built flashmla into a fresh prefix, then configures, builds and runs the consumer
# project against it with find_package(flashmla).
# Usage: cmake -DBUILD_DIR=<flashmla build> -DWORK_DIR=<scratch dir> -P check_consumer.cmake
if(NOT BUILD_DIR OR NOT WORK_DIR)
  message(FATAL_ERROR "usage: cmake -DBUILD_DIR=<flashmla build> -DWORK_DIR=<dir> -P ${CMAKE_SCRIPT_MODE_FILE}")
endif()
get_filename_component(consumer_dir "${CMAKE_CURRENT_LIST_DIR}" ABSOLUTE)
file(REMOVE_RECURSE "${WORK_DIR}")

function(run_step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "find_package check: ${name} failed (${rc})")
  endif()
endfunction()

run_step("install" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
run_step("configure consumer" "${CMAKE_COMMAND}" -S "${consumer_dir}" -B "${WORK_DIR}/build"
         -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
run_step("build consumer" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
run_step("run consumer" "${WORK_DIR}/build/consumer")
message(STATUS "find_package check: consumer built and ran against ${WORK_DIR}/prefix")
