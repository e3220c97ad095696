// The result table of DESIGN.md section 6: one CSV row per configuration with exactly the agreed
// columns, and the same numbers as a human-readable table on stdout.
#pragma once

#include <cstdio>
#include <string>

#include "problem.h"

namespace bench {

struct ResultRow {
  std::string commit;
  std::string gpu;
  ProblemSpec spec;
  double time_us = 0.0;
  double tflops = 0.0;
  double gbs = 0.0;
  double roofline_pct = 0.0;
  double copy_gbs = 0.0;
  double gemm_tflops = 0.0;
  double max_rel_err = 0.0;
};

// "commit,gpu,dtype,b,s_q,s_k,h_q,h_kv,varlen,time_us,tflops,gbs,roofline_pct,copy_gbs,
// gemm_tflops,max_rel_err".
const char* csv_header();
std::string csv_line(const ResultRow& row);

// A CSV file written row by row and flushed after each, so that a run cut short keeps what it
// measured.
class CsvFile {
 public:
  CsvFile() = default;
  CsvFile(const CsvFile&) = delete;
  CsvFile& operator=(const CsvFile&) = delete;
  ~CsvFile();

  // Creates the parent directory if needed and writes the header. False with *error set on failure.
  bool open(const std::string& path, std::string* error);
  bool append(const ResultRow& row);

 private:
  std::FILE* file_ = nullptr;
};

void print_table_header();
// `status` is a short note for the last column ("ok", "FAIL", an error).
void print_table_row(const ResultRow& row, const std::string& status);

}  // namespace bench
