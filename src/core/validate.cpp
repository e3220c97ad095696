// Validation of the public entry points. Every check runs before any output is written, so a
// rejected call leaves the caller's buffers as they were. Sizes are int64 with explicit overflow
// checks: a view may claim sizes no memory could hold, and the checks must not overflow on them.
//
// Order: first everything that can be judged from the views alone (kInvalidArgument), then, for
// host tensors only, the data values (kInvalidInputData). Data are never read before the shapes,
// strides and pointers that locate them have passed.
#include "core/validate.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <string>
#include <utility>

#include "core/scheduler.h"

namespace flashmla {
namespace {

#define FLASHMLA_RETURN_IF_ERROR(expr) \
  do {                                 \
    Status status_ = (expr);           \
    if (!status_.ok()) return status_; \
  } while (0)

using std::string;

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
// The most query rows (s_q * h_q) one sequence can have.
constexpr int64_t kMaxQueryRows = static_cast<int64_t>(kMaxQueryTokens) * kMaxQueryHeads;

Status invalid_argument(string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

Status invalid_data(string message) {
  return Status(StatusCode::kInvalidInputData, std::move(message));
}

string str(int64_t v) { return std::to_string(v); }

// "%g": std::to_string(float) would print 1e-9 as "0.000000".
string float_string(float v) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", static_cast<double>(v));
  return buffer;
}

string address_string(const void* p) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%p", p);
  return buffer;
}

string list_string(const int64_t* values, int n) {
  string s = "[";
  for (int i = 0; i < n; ++i) {
    if (i > 0) s += ", ";
    s += str(values[i]);
  }
  return s + "]";
}

// Unlike TensorView::shape_string(), safe on a view whose ndim is out of range.
int safe_ndim(const TensorView& t) {
  return t.ndim < 0 ? 0 : (t.ndim > kMaxTensorDims ? kMaxTensorDims : t.ndim);
}
string shape_of(const TensorView& t) { return list_string(t.shape, safe_ndim(t)); }
string strides_of(const TensorView& t) { return list_string(t.stride, safe_ndim(t)); }

bool is_known_dtype(DType d) {
  return d == DType::kBFloat16 || d == DType::kFloat16 || d == DType::kFloat32 ||
         d == DType::kInt32;
}

string dtype_string(DType d) {
  if (is_known_dtype(d)) return dtype_name(d);
  return "unknown dtype (" + str(static_cast<int>(d)) + ")";
}

string device_string(Device d) {
  if (d.type == DeviceType::kCPU && d.index != 0) return "cpu:" + str(d.index);
  if (d.type == DeviceType::kCPU || d.type == DeviceType::kCUDA) return device_name(d);
  return "unknown device type " + str(static_cast<int>(d.type));
}

// Overflow-checked a * b; false when the product does not fit in int64.
bool mul_fits(int64_t a, int64_t b, int64_t* product) {
  return !__builtin_mul_overflow(a, b, product);
}

// ---------------------------------------------------------------------------------------------
// Per-tensor checks
// ---------------------------------------------------------------------------------------------

constexpr int64_t kAnyDim = -1;

// One expected dimension: a required size (value >= 0) or any size (kAnyDim). `symbol` names the
// size in messages ("b", "h_kv"); `what` names a fixed property the library supports in one size
// only ("page size"), for a more helpful message when it differs.
struct DimSpec {
  const char* symbol;
  int64_t value;
  const char* what = nullptr;
};

enum class Layout {
  // Row-major contiguous (size-1 dimensions may have any stride).
  kContiguous,
  // Stride 1 in the last dimension, positive strides elsewhere (rows may be padded or strided).
  kRowsStrided,
};

struct TensorSpec {
  const char* name;
  std::initializer_list<DimSpec> dims;
  std::initializer_list<DType> dtypes;
  const char* dtype_note;  // why the dtype is required, e.g. "the dtype of q"; may be null
  Layout layout;
};

string expected_shape_string(std::initializer_list<DimSpec> dims, bool symbolic) {
  string s = "[";
  bool first = true;
  for (const DimSpec& d : dims) {
    if (!first) s += ", ";
    first = false;
    if (d.value == kAnyDim || (symbolic && d.symbol != nullptr)) {
      s += d.symbol;
    } else {
      s += str(d.value);
    }
  }
  return s + "]";
}

// "[b, s_q, h_q, 512] = [2, 1, 16, 512]" where the sizes come from other arguments.
string describe_expected_shape(std::initializer_list<DimSpec> dims) {
  const string symbolic = expected_shape_string(dims, true);
  const string numeric = expected_shape_string(dims, false);
  return symbolic == numeric ? symbolic : symbolic + " = " + numeric;
}

Status expect_device_valid(const TensorView& t, const char* name) {
  if (t.device.type != DeviceType::kCPU && t.device.type != DeviceType::kCUDA) {
    return invalid_argument(string(name) + ": expected device cpu or cuda:N, got " +
                            device_string(t.device));
  }
  if (t.device.type == DeviceType::kCPU && t.device.index != 0) {
    return invalid_argument(string(name) + ": expected device index 0 for the CPU, got " +
                            device_string(t.device));
  }
  if (t.device.type == DeviceType::kCUDA && t.device.index < 0) {
    return invalid_argument(string(name) + ": expected a CUDA device ordinal >= 0, got " +
                            device_string(t.device));
  }
  return Status::Ok();
}

Status expect_same_device(const TensorView& t, const char* name, Device reference,
                          const char* reference_name) {
  if (t.device == reference) return Status::Ok();
  return invalid_argument(string(name) + ": expected device " + device_string(reference) +
                          " (the device of " + reference_name + "), got " +
                          device_string(t.device) +
                          "; all tensors of a call must be on one device");
}

Status expect_shape(const TensorView& t, const char* name, std::initializer_list<DimSpec> dims) {
  const int ndim = static_cast<int>(dims.size());
  if (t.ndim != ndim) {
    string got = str(t.ndim);
    if (t.ndim >= 0 && t.ndim <= kMaxTensorDims) got += " " + shape_of(t);
    return invalid_argument(string(name) + ": expected " + str(ndim) + " dimensions " +
                            describe_expected_shape(dims) + ", got " + got);
  }
  for (int i = 0; i < ndim; ++i) {
    if (t.shape[i] < 0) {
      return invalid_argument(string(name) + ": expected sizes >= 0, got shape " + shape_of(t) +
                              " (dimension " + str(i) + " is negative)");
    }
  }
  int i = 0;
  for (const DimSpec& d : dims) {
    if (d.value != kAnyDim && t.shape[i] != d.value) {
      string message = string(name) + ": expected shape " + describe_expected_shape(dims) +
                       ", got " + shape_of(t);
      if (d.what != nullptr) {
        message += " (" + string(d.what) + " " + str(t.shape[i]) + " is not supported; only " +
                   str(d.value) + ")";
      }
      return invalid_argument(message);
    }
    ++i;
  }
  return Status::Ok();
}

Status expect_dtype(const TensorView& t, const char* name, std::initializer_list<DType> allowed,
                    const char* note) {
  for (DType d : allowed) {
    if (t.dtype == d) return Status::Ok();
  }
  string expected;
  for (DType d : allowed) {
    if (!expected.empty()) expected += " or ";
    expected += dtype_name(d);
  }
  if (note != nullptr) expected += " (" + string(note) + ")";
  return invalid_argument(string(name) + ": expected dtype " + expected + ", got " +
                          dtype_string(t.dtype));
}

Status expect_contiguous(const TensorView& t, const char* name) {
  if (t.is_contiguous()) return Status::Ok();
  int64_t expected[kMaxTensorDims] = {0, 0, 0, 0};
  int64_t running = 1;
  for (int i = t.ndim - 1; i >= 0; --i) {
    expected[i] = running;
    // Saturate: only the message uses these once a size has overflowed.
    if (!mul_fits(running, t.shape[i], &running)) running = kInt64Max;
  }
  return invalid_argument(string(name) + ": expected contiguous strides " +
                          list_string(expected, t.ndim) + " for shape " + shape_of(t) + ", got " +
                          strides_of(t));
}

// Dimensions of size 1 are never stepped over, so their strides do not matter (as in
// TensorView::is_contiguous and in PyTorch).
Status expect_rows_strided(const TensorView& t, const char* name) {
  const int last = t.ndim - 1;
  if (last >= 0 && t.shape[last] != 1 && t.stride[last] != 1) {
    return invalid_argument(string(name) + ": expected stride 1 in the last dimension, got " +
                            str(t.stride[last]) + " (strides " + strides_of(t) + ")");
  }
  for (int i = 0; i < last; ++i) {
    if (t.shape[i] != 1 && t.stride[i] <= 0) {
      return invalid_argument(string(name) + ": expected positive strides, got " + strides_of(t) +
                              " (dimension " + str(i) + ")");
    }
  }
  return Status::Ok();
}

// Sizes whose product overflows int64 would overflow every later computation on them (including
// TensorView::numel and is_contiguous), so this runs before any of those. Zero sizes are skipped:
// a later dimension could otherwise overflow a partial product of an empty tensor.
Status expect_sizes_fit(const TensorView& t, const char* name) {
  int64_t product = 1;
  for (int i = 0; i < t.ndim; ++i) {
    if (t.shape[i] != 0 && !mul_fits(product, t.shape[i], &product)) {
      return invalid_argument(string(name) + ": expected sizes whose product fits in int64, got " +
                              shape_of(t));
    }
  }
  return Status::Ok();
}

// The view must address fewer than 2^63 bytes, so that no offset computed from it overflows.
// Runs after the stride checks: strides of dimensions larger than 1 are then positive.
Status expect_extent_fits(const TensorView& t, const char* name) {
  int64_t last = 0;  // offset of the last element, in elements
  bool fits = true;
  for (int i = 0; i < t.ndim && fits; ++i) {
    if (t.shape[i] == 1) continue;
    int64_t step = 0;
    fits =
        mul_fits(t.shape[i] - 1, t.stride[i], &step) && !__builtin_add_overflow(last, step, &last);
  }
  int64_t bytes = 0;
  fits = fits && !__builtin_add_overflow(last, int64_t{1}, &last) &&
         mul_fits(last, dtype_size(t.dtype), &bytes);
  if (!fits) {
    return invalid_argument(string(name) + ": expected a view of less than 2^63 bytes, got shape " +
                            shape_of(t) + " with strides " + strides_of(t));
  }
  return Status::Ok();
}

Status expect_data(const TensorView& t, const char* name) {
  if (t.data == nullptr) {
    return invalid_argument(string(name) + ": expected a non-null data pointer for shape " +
                            shape_of(t) + ", got null");
  }
  const int align = dtype_size(t.dtype);
  if (reinterpret_cast<uintptr_t>(t.data) % align != 0) {
    return invalid_argument(string(name) + ": expected data aligned to " + str(align) +
                            " bytes (the size of " + dtype_name(t.dtype) + "), got address " +
                            address_string(t.data));
  }
  return Status::Ok();
}

// All checks of one tensor, in the order a reader fixes them: shape, dtype, device, strides,
// memory. `device_reference` is null for the tensor that defines the call's device.
Status check_tensor(const TensorView& t, const TensorSpec& spec, const TensorView* device_reference,
                    const char* device_reference_name) {
  FLASHMLA_RETURN_IF_ERROR(expect_shape(t, spec.name, spec.dims));
  FLASHMLA_RETURN_IF_ERROR(expect_dtype(t, spec.name, spec.dtypes, spec.dtype_note));
  FLASHMLA_RETURN_IF_ERROR(expect_device_valid(t, spec.name));
  if (device_reference != nullptr) {
    FLASHMLA_RETURN_IF_ERROR(
        expect_same_device(t, spec.name, device_reference->device, device_reference_name));
  }
  FLASHMLA_RETURN_IF_ERROR(expect_sizes_fit(t, spec.name));
  // An empty view addresses nothing: its strides and pointer are irrelevant (frameworks give
  // empty tensors arbitrary strides).
  if (t.numel() == 0) return Status::Ok();
  FLASHMLA_RETURN_IF_ERROR(spec.layout == Layout::kContiguous ? expect_contiguous(t, spec.name)
                                                              : expect_rows_strided(t, spec.name));
  FLASHMLA_RETURN_IF_ERROR(expect_extent_fits(t, spec.name));
  return expect_data(t, spec.name);
}

Status expect_in_range(const char* name, const char* what, int64_t value, int64_t lo, int64_t hi) {
  if (value >= lo && value <= hi) return Status::Ok();
  return invalid_argument(string(name) + ": expected " + what + " in [" + str(lo) + ", " + str(hi) +
                          "], got " + str(value));
}

// The GPU kernels move q and k_cache rows with 16-byte copies and write out with 4- and 16-byte
// stores: views that the CPU backend accepts may still be unreadable for them.
Status expect_gpu_vector_access(const TensorView& t, const char* name) {
  constexpr int kVectorBytes = 16;
  const int per_vector = kVectorBytes / dtype_size(t.dtype);
  if (reinterpret_cast<uintptr_t>(t.data) % kVectorBytes != 0) {
    return invalid_argument(string(name) + ": on CUDA the kernels read 16-byte vectors: expected a "
                            "16-byte aligned data pointer, got address " + address_string(t.data));
  }
  for (int i = 0; i < t.ndim; ++i) {
    if (t.shape[i] != 1 && t.stride[i] != 1 && t.stride[i] % per_vector != 0) {
      return invalid_argument(string(name) + ": on CUDA the kernels read 16-byte vectors: expected "
                              "strides that are multiples of " + str(per_vector) + " elements, got " +
                              strides_of(t) + " (dimension " + str(i) + ")");
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// The plan tensors (shared by both entry points)
// ---------------------------------------------------------------------------------------------

// tile_scheduler_metadata [parts, 8] and num_splits [b + 1]; returns the number of parts.
Status check_plan_tensors(const TensorView& metadata, const TensorView& num_splits, int64_t batch,
                          int expected_parts, const TensorView& device_reference,
                          const char* device_reference_name, int* parts) {
  FLASHMLA_RETURN_IF_ERROR(check_tensor(metadata,
                                        {"tile_scheduler_metadata",
                                         {{"num_sm_parts", kAnyDim}, {nullptr, kMetadataFields}},
                                         {DType::kInt32},
                                         nullptr,
                                         Layout::kContiguous},
                                        &device_reference, device_reference_name));
  const int64_t rows = metadata.shape[0];
  if (expected_parts > 0 && rows != expected_parts) {
    return invalid_argument("tile_scheduler_metadata: expected [" + str(expected_parts) + ", " +
                            str(kMetadataFields) + "] for this device and shape (" +
                            str(expected_parts) + " SM parts), got " + shape_of(metadata) +
                            "; was it made for another shape or device?");
  }
  FLASHMLA_RETURN_IF_ERROR(
      expect_in_range("tile_scheduler_metadata", "num_sm_parts (dimension 0)", rows, 1, kInt32Max));
  // num_splits holds int32 prefix sums that reach up to b + num_sm_parts - 1.
  if (batch - 1 > kInt32Max - rows) {
    return invalid_argument("num_splits: b + num_sm_parts - 1 = " + str(batch + rows - 1) +
                            " split slots do not fit in int32 (b = " + str(batch) +
                            ", num_sm_parts = " + str(rows) + "); use a smaller batch");
  }
  FLASHMLA_RETURN_IF_ERROR(check_tensor(
      num_splits,
      {"num_splits", {{"b + 1", batch + 1}}, {DType::kInt32}, nullptr, Layout::kContiguous},
      &device_reference, device_reference_name));
  *parts = static_cast<int>(rows);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Data checks (host tensors only)
// ---------------------------------------------------------------------------------------------

// cache_seqlens values in [0, capacity]; capacity < 0 means unbounded.
Status check_seqlens_data(const TensorView& seqlens, int64_t capacity, int64_t capacity_pages) {
  const auto* lens = static_cast<const int32_t*>(seqlens.data);
  for (int64_t i = 0; i < seqlens.shape[0]; ++i) {
    const int64_t len = lens[i];
    if (len < 0) {
      return invalid_data("cache_seqlens[" + str(i) + "] = " + str(len) +
                          ": expected a length >= 0");
    }
    if (capacity >= 0 && len > capacity) {
      return invalid_data("cache_seqlens[" + str(i) + "] = " + str(len) +
                          " exceeds the block table's capacity of " + str(capacity) + " tokens (" +
                          str(capacity_pages) + " pages of " + str(kPageSize) + ")");
    }
  }
  return Status::Ok();
}

// Every page a sequence uses must be a page of k_cache. Entries past a sequence's last page are
// padding and may hold anything.
Status check_block_table_data(const TensorView& block_table, const TensorView& seqlens,
                              int64_t num_blocks) {
  const auto* table = static_cast<const int32_t*>(block_table.data);
  const auto* lens = static_cast<const int32_t*>(seqlens.data);
  for (int64_t i = 0; i < seqlens.shape[0]; ++i) {
    const int64_t pages = scheduler::pages_of(lens[i]);
    const int32_t* row = table + i * block_table.stride[0];
    for (int64_t j = 0; j < pages; ++j) {
      const int64_t page = row[j * block_table.stride[1]];
      if (page < 0 || page >= num_blocks) {
        return invalid_data("block_table[" + str(i) + "][" + str(j) + "] = " + str(page) +
                            ": expected a page of k_cache in [0, " + str(num_blocks) +
                            ") (sequence " + str(i) + " has " + str(lens[i]) +
                            " tokens, so it uses block_table[" + str(i) + "][0.." + str(pages - 1) +
                            "])");
      }
    }
  }
  return Status::Ok();
}

// The stamp of every part must name the call's shape: a plan for another shape would make the
// kernels read and write out of bounds.
Status check_plan_stamps(const int32_t* metadata, int parts, int64_t batch, int q_rows, int h_kv) {
  for (int p = 0; p < parts; ++p) {
    const int32_t* row = metadata + static_cast<int64_t>(p) * kMetadataFields;
    if (row[scheduler::kStampBatch] != batch || row[scheduler::kStampRows] != q_rows ||
        row[scheduler::kStampHeadsKV] != h_kv) {
      return invalid_data(
          "tile_scheduler_metadata[" + str(p) + "]: expected a plan for b = " + str(batch) +
          ", q_rows_per_kv_head = " + str(q_rows) + " (s_q * h_q / h_kv), h_kv = " + str(h_kv) +
          ", got one for b = " + str(row[scheduler::kStampBatch]) + ", q_rows_per_kv_head = " +
          str(row[scheduler::kStampRows]) + ", h_kv = " + str(row[scheduler::kStampHeadsKV]) +
          "; call get_mla_metadata() with this call's cache_seqlens and shape");
    }
  }
  return Status::Ok();
}

Status check_num_splits_data(const int32_t* splits, int64_t batch, int parts) {
  if (splits[0] != 0) {
    return invalid_data("num_splits[0] = " + str(splits[0]) + ": expected 0");
  }
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t count = static_cast<int64_t>(splits[i + 1]) - splits[i];
    if (count < 1) {
      return invalid_data("num_splits: sequence " + str(i) + " has " + str(count) +
                          " splits (num_splits[" + str(i) + "] = " + str(splits[i]) +
                          ", num_splits[" + str(i + 1) + "] = " + str(splits[i + 1]) +
                          "); expected at least 1. Was it made for these cache_seqlens?");
    }
  }
  const int64_t most = batch + parts - 1;
  if (splits[batch] > most) {
    return invalid_data("num_splits[" + str(batch) + "] = " + str(splits[batch]) +
                        ": expected at most b + num_sm_parts - 1 = " + str(most));
  }
  return Status::Ok();
}

// The parts must cover every page of every sequence exactly once, in order, each piece of a
// sequence being its next split; and each sequence's split count must match num_splits. This is
// what the backends rely on to read only pages below cache_seqlens and to write (and later
// combine) exactly the splits num_splits announces. The host scheduler's plan passes by
// construction; a plan for other cache_seqlens of the same shape is caught here.
Status check_plan_coverage(const int32_t* metadata, int parts, const int32_t* splits,
                           const int32_t* lens, int64_t batch) {
  // Cursor: the first page not yet covered, and the split index its piece must have.
  int64_t seq = 0;
  int64_t page = 0;
  int64_t split = 0;
  auto where = [](int64_t s, int64_t pg, int64_t sp) {
    return "(sequence " + str(s) + ", page " + str(pg) + ", split " + str(sp) + ")";
  };
  auto splits_of = [&](int64_t s) { return static_cast<int64_t>(splits[s + 1]) - splits[s]; };
  auto mismatch = [&](int p, const string& what) {
    return invalid_data("tile_scheduler_metadata[" + str(p) + "]: " + what +
                        "; was it made for these cache_seqlens?");
  };
  for (int p = 0; p < parts; ++p) {
    const int32_t* row = metadata + static_cast<int64_t>(p) * kMetadataFields;
    const int64_t begin_seq = row[scheduler::kBeginSeq];
    const int64_t begin_page = row[scheduler::kBeginPage];
    const int64_t end_seq = row[scheduler::kEndSeq];
    const int64_t end_page = row[scheduler::kEndPage];
    const int64_t begin_split = row[scheduler::kBeginSplit];
    if (begin_seq != seq || begin_page != page || begin_split != split) {
      return mismatch(p, "begins at " + where(begin_seq, begin_page, begin_split) + ", expected " +
                             where(seq, page, split) + " where the previous parts end");
    }
    if (end_seq == begin_seq - 1) continue;  // an empty part
    if (end_seq < begin_seq || end_seq >= batch) {
      return mismatch(p, "end_seq = " + str(end_seq) + ", expected a sequence in [" +
                             str(begin_seq) + ", " + str(batch - 1) + "] (or " +
                             str(begin_seq - 1) + " for an empty part)");
    }
    // Sequences begin_seq .. end_seq - 1 end inside this part: their split counts are now known.
    for (int64_t s = begin_seq; s < end_seq; ++s) {
      const int64_t count = (s == begin_seq ? split : 0) + 1;
      if (splits_of(s) != count) {
        return mismatch(p, "sequence " + str(s) + " ends in its split " + str(count - 1) +
                               " but num_splits gives it " + str(splits_of(s)) + " splits");
      }
    }
    const int64_t start = end_seq == begin_seq ? begin_page : 0;
    const int64_t total = scheduler::pages_of(lens[end_seq]);
    if (end_page > total || end_page < start || (end_page == start && end_page < total)) {
      return mismatch(p, "end_page = " + str(end_page) + " in sequence " + str(end_seq) +
                             ", expected a page in (" + str(start) + ", " + str(total) +
                             "] (cache_seqlens[" + str(end_seq) + "] = " + str(lens[end_seq]) +
                             " has " + str(total) + " pages)");
    }
    const int64_t end_split = end_seq == begin_seq ? split : 0;
    if (end_page == total) {
      if (splits_of(end_seq) != end_split + 1) {
        return mismatch(p, "sequence " + str(end_seq) + " ends in its split " + str(end_split) +
                               " but num_splits gives it " + str(splits_of(end_seq)) + " splits");
      }
      seq = end_seq + 1;
      page = 0;
      split = 0;
    } else {
      seq = end_seq;
      page = end_page;
      split = end_split + 1;
    }
  }
  if (seq != batch) {
    return invalid_data("tile_scheduler_metadata: its " + str(parts) + " parts end at " +
                        where(seq, page, split) + ", expected them to cover all " + str(batch) +
                        " sequences; was it made for these cache_seqlens?");
  }
  return Status::Ok();
}

}  // namespace

Status check_plan_against_lengths(const int32_t* metadata, int parts, const int32_t* splits,
                                  const int32_t* lens, int64_t batch) {
  FLASHMLA_RETURN_IF_ERROR(check_num_splits_data(splits, batch, parts));
  return check_plan_coverage(metadata, parts, splits, lens, batch);
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

Status validate_metadata_args(const MetadataArgs& args, int expected_parts) {
  const TensorView& seqlens = args.cache_seqlens;
  FLASHMLA_RETURN_IF_ERROR(check_tensor(
      seqlens, {"cache_seqlens", {{"b", kAnyDim}}, {DType::kInt32}, nullptr, Layout::kContiguous},
      nullptr, nullptr));
  const int64_t batch = seqlens.shape[0];
  FLASHMLA_RETURN_IF_ERROR(expect_in_range("cache_seqlens", "batch size b", batch, 1, kInt32Max));
  FLASHMLA_RETURN_IF_ERROR(expect_in_range("q_rows_per_kv_head", "a value (s_q * h_q / h_kv)",
                                           args.q_rows_per_kv_head, 1, kMaxQueryRows));
  FLASHMLA_RETURN_IF_ERROR(expect_in_range("h_kv", "a value", args.h_kv, 1, kMaxQueryHeads));
  const int64_t query_rows = static_cast<int64_t>(args.q_rows_per_kv_head) * args.h_kv;
  if (query_rows > kMaxQueryRows) {
    return invalid_argument("q_rows_per_kv_head * h_kv (= s_q * h_q): expected at most " +
                            str(kMaxQueryRows) + " (" + str(kMaxQueryTokens) + " tokens of " +
                            str(kMaxQueryHeads) + " heads), got " + str(query_rows));
  }
  int parts = 0;
  FLASHMLA_RETURN_IF_ERROR(check_plan_tensors(args.tile_scheduler_metadata, args.num_splits, batch,
                                              expected_parts, seqlens, "cache_seqlens", &parts));
  if (seqlens.device.type == DeviceType::kCPU) {
    FLASHMLA_RETURN_IF_ERROR(check_seqlens_data(seqlens, -1, 0));
  }
  return Status::Ok();
}

Status validate_decode_args(const DecodeArgs& args, int expected_parts, DecodeShape* shape) {
  if (shape == nullptr) return Status(StatusCode::kInternalError, "validate: shape is null");

  // q defines b, s_q, h_q and the device of the call.
  FLASHMLA_RETURN_IF_ERROR(check_tensor(
      args.q,
      {"q",
       {{"b", kAnyDim}, {"s_q", kAnyDim}, {"h_q", kAnyDim}, {nullptr, kHeadDimK, "head dim"}},
       {DType::kBFloat16, DType::kFloat16},
       nullptr,
       Layout::kRowsStrided},
      nullptr, nullptr));
  const int64_t batch = args.q.shape[0];
  const int64_t s_q = args.q.shape[1];
  const int64_t h_q = args.q.shape[2];
  FLASHMLA_RETURN_IF_ERROR(expect_in_range("q", "batch size b (dimension 0)", batch, 1, kInt32Max));
  FLASHMLA_RETURN_IF_ERROR(expect_in_range("q", "s_q (dimension 1)", s_q, 1, kMaxQueryTokens));
  FLASHMLA_RETURN_IF_ERROR(expect_in_range("q", "h_q (dimension 2)", h_q, 1, kMaxQueryHeads));

  // k_cache defines num_blocks and h_kv.
  FLASHMLA_RETURN_IF_ERROR(check_tensor(args.k_cache,
                                        {"k_cache",
                                         {{"num_blocks", kAnyDim},
                                          {nullptr, kPageSize, "page size"},
                                          {"h_kv", kAnyDim},
                                          {nullptr, kHeadDimK, "head dim"}},
                                         {args.q.dtype},
                                         "the dtype of q",
                                         Layout::kRowsStrided},
                                        &args.q, "q"));
  const int64_t num_blocks = args.k_cache.shape[0];
  const int64_t h_kv = args.k_cache.shape[2];
  FLASHMLA_RETURN_IF_ERROR(expect_in_range("k_cache", "h_kv (dimension 2)", h_kv, 1, h_q));
  if (h_q % h_kv != 0) {
    return invalid_argument("h_q (" + str(h_q) + ") must be a multiple of h_kv (" + str(h_kv) +
                            "): q has " + str(h_q) + " heads (dimension 2) and k_cache " +
                            str(h_kv) + " (dimension 2)");
  }

  FLASHMLA_RETURN_IF_ERROR(check_tensor(args.block_table,
                                        {"block_table",
                                         {{"b", batch}, {"max_blocks_per_seq", kAnyDim}},
                                         {DType::kInt32},
                                         nullptr,
                                         Layout::kRowsStrided},
                                        &args.q, "q"));
  const int64_t max_blocks = args.block_table.shape[1];
  FLASHMLA_RETURN_IF_ERROR(
      check_tensor(args.cache_seqlens,
                   {"cache_seqlens", {{"b", batch}}, {DType::kInt32}, nullptr, Layout::kContiguous},
                   &args.q, "q"));
  FLASHMLA_RETURN_IF_ERROR(
      check_tensor(args.out,
                   {"out",
                    {{"b", batch}, {"s_q", s_q}, {"h_q", h_q}, {nullptr, kHeadDimV}},
                    {args.q.dtype},
                    "the dtype of q",
                    Layout::kContiguous},
                   &args.q, "q"));
  FLASHMLA_RETURN_IF_ERROR(check_tensor(args.lse,
                                        {"lse",
                                         {{"b", batch}, {"h_q", h_q}, {"s_q", s_q}},
                                         {DType::kFloat32},
                                         nullptr,
                                         Layout::kContiguous},
                                        &args.q, "q"));

  if (args.head_dim_v != kHeadDimV) {
    return invalid_argument("head_dim_v: expected " + str(kHeadDimV) + ", got " +
                            str(args.head_dim_v));
  }
  if (!std::isfinite(args.softmax_scale) || args.softmax_scale < 0.0f) {
    return invalid_argument(
        "softmax_scale: expected a finite value > 0, or 0 for the default 1/sqrt(" +
        str(kHeadDimK) + "), got " + float_string(args.softmax_scale));
  }

  const int ngroups = static_cast<int>(h_q / h_kv);
  const int q_rows = static_cast<int>(s_q) * ngroups;
  int parts = 0;
  FLASHMLA_RETURN_IF_ERROR(check_plan_tensors(args.tile_scheduler_metadata, args.num_splits, batch,
                                              expected_parts, args.q, "q", &parts));

  const size_t needed = decode_workspace_size(batch, parts, q_rows, static_cast<int>(h_kv));
  // Built only for an error message: this runs on every decode call.
  auto size_call = [&] {
    return "decode_workspace_size(b = " + str(batch) + ", num_sm_parts = " + str(parts) +
           ", q_rows_per_kv_head = " + str(q_rows) + ", h_kv = " + str(h_kv) +
           ") = " + std::to_string(needed) + " bytes";
  };
  if (args.workspace == nullptr) {
    if (args.q.device.type == DeviceType::kCUDA) {
      return invalid_argument("workspace: expected device memory of at least " + size_call() +
                              ", got null; allocate it once and reuse it across calls");
    }
  } else {
    if (args.workspace_bytes < needed) {
      return invalid_argument("workspace_bytes: expected at least " + size_call() + ", got " +
                              std::to_string(args.workspace_bytes));
    }
    if (reinterpret_cast<uintptr_t>(args.workspace) % 16 != 0) {
      return invalid_argument("workspace: expected a 16-byte aligned address, got " +
                              address_string(args.workspace));
    }
  }

  if (args.q.device.type == DeviceType::kCUDA) {
    FLASHMLA_RETURN_IF_ERROR(expect_gpu_vector_access(args.q, "q"));
    FLASHMLA_RETURN_IF_ERROR(expect_gpu_vector_access(args.k_cache, "k_cache"));
    FLASHMLA_RETURN_IF_ERROR(expect_gpu_vector_access(args.out, "out"));
  }

  if (args.q.device.type == DeviceType::kCPU) {
    int64_t capacity = 0;
    if (!mul_fits(max_blocks, kPageSize, &capacity)) capacity = kInt64Max;
    FLASHMLA_RETURN_IF_ERROR(check_seqlens_data(args.cache_seqlens, capacity, max_blocks));
    FLASHMLA_RETURN_IF_ERROR(
        check_block_table_data(args.block_table, args.cache_seqlens, num_blocks));
    const auto* metadata = static_cast<const int32_t*>(args.tile_scheduler_metadata.data);
    const auto* splits = static_cast<const int32_t*>(args.num_splits.data);
    FLASHMLA_RETURN_IF_ERROR(
        check_plan_stamps(metadata, parts, batch, q_rows, static_cast<int>(h_kv)));
    FLASHMLA_RETURN_IF_ERROR(check_plan_against_lengths(
        metadata, parts, splits, static_cast<const int32_t*>(args.cache_seqlens.data), batch));
  }

  shape->batch = batch;
  shape->s_q = static_cast<int>(s_q);
  shape->h_q = static_cast<int>(h_q);
  shape->h_kv = static_cast<int>(h_kv);
  shape->ngroups = ngroups;
  shape->q_rows = q_rows;
  shape->num_blocks = num_blocks;
  shape->max_blocks_per_seq = max_blocks;
  shape->num_sm_parts = parts;
  shape->dtype = args.q.dtype;
  shape->softmax_scale = args.softmax_scale == 0.0f
                             ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(kHeadDimK)))
                             : args.softmax_scale;
  shape->causal = args.causal;
  return Status::Ok();
}

#undef FLASHMLA_RETURN_IF_ERROR

}  // namespace flashmla
