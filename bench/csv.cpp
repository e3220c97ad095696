#include "csv.h"

#include <cmath>
#include <filesystem>
#include <system_error>

namespace bench {

namespace {

std::string format(const char* fmt, double v) {
  if (std::isnan(v)) return "nan";
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

}  // namespace

const char* csv_header() {
  return "commit,gpu,dtype,b,s_q,s_k,h_q,h_kv,varlen,time_us,tflops,gbs,roofline_pct,copy_gbs,"
         "gemm_tflops,max_rel_err";
}

std::string csv_line(const ResultRow& r) {
  const ProblemSpec& s = r.spec;
  const bool varlen = s.varlen || !s.seqlens.empty();
  return r.commit + "," + r.gpu + "," + short_dtype_name(s.dtype) + "," + std::to_string(s.b) +
         "," + std::to_string(s.s_q) + "," + std::to_string(s.s_k) + "," + std::to_string(s.h_q) +
         "," + std::to_string(s.h_kv) + "," + (varlen ? "1" : "0") + "," +
         format("%.1f", r.time_us) + "," + format("%.1f", r.tflops) + "," + format("%.0f", r.gbs) +
         "," + format("%.1f", r.roofline_pct) + "," + format("%.0f", r.copy_gbs) + "," +
         format("%.1f", r.gemm_tflops) + "," + format("%.2e", r.max_rel_err);
}

CsvFile::~CsvFile() {
  if (file_) std::fclose(file_);
}

bool CsvFile::open(const std::string& path, std::string* error) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      *error = "cannot create directory " + parent.string() + ": " + ec.message();
      return false;
    }
  }
  file_ = std::fopen(path.c_str(), "w");
  if (!file_) {
    *error = "cannot open " + path + " for writing";
    return false;
  }
  std::fprintf(file_, "%s\n", csv_header());
  std::fflush(file_);
  return true;
}

bool CsvFile::append(const ResultRow& row) {
  if (!file_) return false;
  const bool ok = std::fprintf(file_, "%s\n", csv_line(row).c_str()) > 0;
  return std::fflush(file_) == 0 && ok;
}

void print_table_header() {
  std::printf("%-5s %4s %4s %6s %4s %4s %3s %10s %8s %7s %7s %10s  %s\n", "dtype", "b", "s_q",
              "s_k", "h_q", "h_kv", "var", "time_us", "TFLOP/s", "GB/s", "roof%", "max_err",
              "check");
}

void print_table_row(const ResultRow& r, const std::string& status) {
  const ProblemSpec& s = r.spec;
  const bool varlen = s.varlen || !s.seqlens.empty();
  std::printf("%-5s %4lld %4d %6d %4d %4d %3s %10s %8s %7s %7s %10s  %s\n",
              short_dtype_name(s.dtype), static_cast<long long>(s.b), s.s_q, s.s_k, s.h_q, s.h_kv,
              varlen ? "yes" : "no", format("%.1f", r.time_us).c_str(),
              format("%.1f", r.tflops).c_str(), format("%.0f", r.gbs).c_str(),
              format("%.1f", r.roofline_pct).c_str(), format("%.2e", r.max_rel_err).c_str(),
              status.c_str());
  std::fflush(stdout);
}

}  // namespace bench
