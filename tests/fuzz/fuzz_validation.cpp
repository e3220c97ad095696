// libFuzzer target for the argument checking of both public calls and for the host scheduler.
//
// Each input decodes into a small problem that is valid by construction (shapes, padded strides,
// lengths, a block table with garbage in its padding, a plan from the real scheduler), then into
// at most one mutation per call. What the fuzzer can tell, it asserts (a trap is a finding):
//   - a valid call is accepted, and its outputs are fully written and free of NaN although every
//     cache slot no sequence may read holds NaN;
//   - a mutation that is invalid by construction (a length past the block table, a page past
//     k_cache, a plan stamped for another shape, a wrong dtype or pinned size, a null pointer...)
//     is rejected with the right status code;
//   - a rejected call leaves its outputs untouched;
//   - a corrupted plan or a resized cache that validation accepts gives the same result as the
//     real plan (validation may accept only plans that cover the sequences exactly).
// Everything else (random strides, random sizes) has no known answer; there the buffers are sized
// to what the views claim, so that AddressSanitizer reports any access validation let through.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "core/scheduler.h"
#include "flashmla/flashmla.h"
#include "flashmla/half.h"

namespace {

using flashmla::DecodeArgs;
using flashmla::Device;
using flashmla::DeviceType;
using flashmla::DType;
using flashmla::half_quiet_nan;
using flashmla::half_to_float;
using flashmla::kHeadDimK;
using flashmla::kHeadDimV;
using flashmla::kMetadataFields;
using flashmla::kPageSize;
using flashmla::MetadataArgs;
using flashmla::Status;
using flashmla::StatusCode;
using flashmla::TensorView;

// Views may claim at most this many bytes before the harness stops backing them with memory.
constexpr int64_t kMaxBackedBytes = int64_t{8} << 20;

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

// The fuzzer's bytes as a stream of choices. Past the end every read gives 0, so any input (even
// an empty one) decodes to a valid problem.
class Choices {
 public:
  Choices(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint32_t byte() { return pos_ < size_ ? data_[pos_++] : 0u; }
  uint32_t u32() { return byte() | byte() << 8 | byte() << 16 | byte() << 24; }
  bool flag() { return (byte() & 1u) != 0; }
  // A value in [lo, hi] (hi - lo < 2^32).
  int64_t in(int64_t lo, int64_t hi) {
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    const uint64_t raw = span <= 256 ? byte() : u32();
    return lo + static_cast<int64_t>(raw % span);
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Bulk data costs no input bytes: it comes from a generator seeded by the input.
class Noise {
 public:
  explicit Noise(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  // A finite half-width value of magnitude in [1/16, 2).
  uint16_t finite_half(DType dtype) {
    const uint64_t r = next();
    const uint16_t sign = static_cast<uint16_t>((r & 1u) << 15);
    const uint16_t e = static_cast<uint16_t>((r >> 1) % 5);
    if (dtype == DType::kBFloat16) {
      return static_cast<uint16_t>(sign | (123 + e) << 7 | ((r >> 8) & 0x7Fu));
    }
    return static_cast<uint16_t>(sign | (11 + e) << 10 | ((r >> 8) & 0x3FFu));
  }

 private:
  uint64_t state_;
};

// Memory behind one view: 64-byte aligned, exactly as large as asked (ASan sees the end).
struct Tensor {
  TensorView view;
  std::shared_ptr<uint8_t> memory;
  int64_t bytes = 0;

  uint8_t* base() const { return memory.get(); }
  template <typename T>
  T* as() const {
    return reinterpret_cast<T*>(memory.get());
  }
};

std::shared_ptr<uint8_t> allocate(int64_t bytes) {
  const size_t rounded = static_cast<size_t>((bytes + 63) / 64 * 64 + 64);
  return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(std::aligned_alloc(64, rounded)),
                                  [](uint8_t* p) { std::free(p); });
}

int element_size(DType dtype) {
  const int size = flashmla::dtype_size(dtype);
  return size > 0 ? size : 4;
}

// Bytes a view reaches from its data pointer: 0 for an empty or malformed view, -1 when it reaches
// below the pointer or further than the harness backs with memory.
int64_t reach_bytes(const TensorView& v) {
  if (v.ndim < 0 || v.ndim > flashmla::kMaxTensorDims) return 0;
  for (int i = 0; i < v.ndim; ++i) {
    if (v.shape[i] < 0) return 0;
    if (v.shape[i] == 0) return 0;
  }
  int64_t last = 0;
  for (int i = 0; i < v.ndim; ++i) {
    if (v.shape[i] == 1) continue;
    if (v.stride[i] < 0) return -1;
    int64_t step = 0;
    if (__builtin_mul_overflow(v.shape[i] - 1, v.stride[i], &step) ||
        __builtin_add_overflow(last, step, &last)) {
      return -1;
    }
  }
  int64_t bytes = 0;
  if (__builtin_mul_overflow(last + 1, int64_t{element_size(v.dtype)}, &bytes)) return -1;
  return bytes > kMaxBackedBytes ? -1 : bytes;
}

Tensor make_tensor(TensorView view) {
  Tensor t;
  t.view = view;
  t.bytes = reach_bytes(view);
  t.memory = allocate(t.bytes);
  t.view.data = t.base();
  return t;
}

TensorView strided(DType dtype, std::initializer_list<int64_t> shape,
                   std::initializer_list<int64_t> strides) {
  TensorView v = TensorView::contiguous(nullptr, dtype, Device{}, shape);
  int i = 0;
  for (int64_t s : strides) v.stride[i++] = s;
  return v;
}

// After a mutation: grows the memory behind a view to what it now claims (new bytes are noise),
// keeping the pointer's offset. Views that claim too much keep their memory: validation must
// reject them or touch only what the original data describes (see the mutations).
void back_claims(Tensor* t, Noise* noise) {
  if (t->view.data == nullptr) return;
  const auto* data = static_cast<uint8_t*>(t->view.data);
  if (data < t->base() || data > t->base() + t->bytes) return;
  const int64_t offset = data - t->base();
  const int64_t reach = reach_bytes(t->view);
  if (reach < 0 || offset + reach <= t->bytes) return;
  std::shared_ptr<uint8_t> grown = allocate(offset + reach);
  std::memcpy(grown.get(), t->base(), static_cast<size_t>(t->bytes));
  for (int64_t i = t->bytes; i < offset + reach; ++i)
    grown.get()[i] = static_cast<uint8_t>(noise->next());
  t->memory = grown;
  t->bytes = offset + reach;
  t->view.data = t->base() + offset;
}

std::vector<uint8_t> snapshot(const Tensor& t) {
  return std::vector<uint8_t>(t.base(), t.base() + t.bytes);
}
bool unchanged(const Tensor& t, const std::vector<uint8_t>& before) {
  return static_cast<int64_t>(before.size()) == t.bytes &&
         std::memcmp(before.data(), t.base(), before.size()) == 0;
}

// ---------------------------------------------------------------------------------------------
// The valid problem
// ---------------------------------------------------------------------------------------------

struct Problem {
  DType dtype = DType::kBFloat16;
  int64_t batch = 1, s_q = 1, h_q = 1, h_kv = 1, num_blocks = 0, max_blocks = 0;
  int parts = 1;
  bool causal = false;
  float scale = 0.0f;
  int64_t q_head_stride = kHeadDimK, k_head_stride = kHeadDimK, table_row_stride = 0;
  std::vector<int32_t> seqlens;
  std::vector<int32_t> table;  // batch x max_blocks, logical

  int64_t q_rows() const { return s_q * h_q / h_kv; }
  int64_t capacity() const { return max_blocks * kPageSize; }
  int64_t pages(int64_t seq) const { return flashmla::scheduler::pages_of(seqlens[seq]); }
};

Problem make_problem(Choices* in) {
  Problem p;
  p.dtype = in->flag() ? DType::kFloat16 : DType::kBFloat16;
  p.batch = in->in(1, 3);
  p.h_kv = in->in(1, 2);
  p.h_q = p.h_kv * in->in(1, 4);
  p.s_q = in->in(1, p.h_q <= 2 ? 8 : 2);
  p.max_blocks = in->in(0, 3);
  p.num_blocks = in->in(0, 5);
  p.parts = static_cast<int>(in->in(1, 8));
  p.causal = in->flag();
  p.scale = in->flag() ? 0.0f : static_cast<float>(in->in(1, 256)) / 64.0f;
  p.q_head_stride = kHeadDimK + 8 * in->in(0, 1);
  p.k_head_stride = kHeadDimK + 8 * in->in(0, 1);
  p.table_row_stride = p.max_blocks + in->in(0, 2);
  const int64_t cap = p.num_blocks == 0 ? 0 : p.capacity();
  for (int64_t i = 0; i < p.batch; ++i) {
    const int64_t edges[] = {0, 1, 63, 64, 65, cap};
    const uint32_t kind = in->byte() % 8;
    int64_t len = kind < 6 ? edges[kind] : in->in(0, cap);
    p.seqlens.push_back(static_cast<int32_t>(len > cap ? cap : len));
  }
  p.table.resize(static_cast<size_t>(p.batch * p.max_blocks));
  for (int64_t i = 0; i < p.batch; ++i) {
    for (int64_t j = 0; j < p.max_blocks; ++j) {
      // Used pages point into k_cache (shared pages allowed); padding holds anything.
      p.table[i * p.max_blocks + j] = j < p.pages(i)
                                          ? static_cast<int32_t>(in->in(0, p.num_blocks - 1))
                                          : static_cast<int32_t>(in->u32());
    }
  }
  return p;
}

struct DecodeTensors {
  Tensor q, k_cache, block_table, cache_seqlens, metadata, num_splits, out, lse;

  std::vector<Tensor*> all() {
    return {&q, &k_cache, &block_table, &cache_seqlens, &metadata, &num_splits, &out, &lse};
  }
};

constexpr uint16_t kOutSentinel = 0x7A5Au;
constexpr int32_t kPlanSentinel = -777;

void fill_outputs(DecodeTensors* t) {
  auto* out = t->out.as<uint16_t>();
  for (int64_t i = 0; i < t->out.bytes / 2; ++i) out[i] = kOutSentinel;
  auto* lse = t->lse.as<float>();
  for (int64_t i = 0; i < t->lse.bytes / 4; ++i) lse[i] = -12345.5f;
}

DecodeTensors make_tensors(const Problem& p, Noise* noise) {
  DecodeTensors t;
  const int64_t qs = p.q_head_stride;
  t.q = make_tensor(strided(p.dtype, {p.batch, p.s_q, p.h_q, kHeadDimK},
                            {p.s_q * p.h_q * qs, p.h_q * qs, qs, 1}));
  for (int64_t i = 0; i < t.q.bytes / 2; ++i) t.q.as<uint16_t>()[i] = noise->finite_half(p.dtype);

  // Every slot of k_cache is NaN except those some sequence reads (pages may be shared).
  const int64_t ks = p.k_head_stride;
  t.k_cache = make_tensor(strided(p.dtype, {p.num_blocks, kPageSize, p.h_kv, kHeadDimK},
                                  {kPageSize * p.h_kv * ks, p.h_kv * ks, ks, 1}));
  auto* k = t.k_cache.as<uint16_t>();
  for (int64_t i = 0; i < t.k_cache.bytes / 2; ++i) k[i] = half_quiet_nan(p.dtype);
  for (int64_t seq = 0; seq < p.batch; ++seq) {
    for (int64_t tok = 0; tok < p.seqlens[seq]; ++tok) {
      const int64_t page = p.table[seq * p.max_blocks + tok / kPageSize];
      for (int64_t h = 0; h < p.h_kv; ++h) {
        uint16_t* row =
            k + page * kPageSize * p.h_kv * ks + (tok % kPageSize) * p.h_kv * ks + h * ks;
        for (int64_t c = 0; c < kHeadDimK; ++c) row[c] = noise->finite_half(p.dtype);
      }
    }
  }

  t.block_table =
      make_tensor(strided(DType::kInt32, {p.batch, p.max_blocks}, {p.table_row_stride, 1}));
  auto* table = t.block_table.as<int32_t>();
  for (int64_t i = 0; i < t.block_table.bytes / 4; ++i)
    table[i] = static_cast<int32_t>(noise->next());
  for (int64_t i = 0; i < p.batch; ++i) {
    for (int64_t j = 0; j < p.max_blocks; ++j) {
      table[i * p.table_row_stride + j] = p.table[i * p.max_blocks + j];
    }
  }

  t.cache_seqlens = make_tensor(strided(DType::kInt32, {p.batch}, {1}));
  std::memcpy(t.cache_seqlens.base(), p.seqlens.data(), p.seqlens.size() * sizeof(int32_t));
  t.metadata =
      make_tensor(strided(DType::kInt32, {p.parts, kMetadataFields}, {kMetadataFields, 1}));
  t.num_splits = make_tensor(strided(DType::kInt32, {p.batch + 1}, {1}));
  for (Tensor* plan : {&t.metadata, &t.num_splits}) {
    for (int64_t i = 0; i < plan->bytes / 4; ++i) plan->as<int32_t>()[i] = kPlanSentinel;
  }
  t.out = make_tensor(strided(p.dtype, {p.batch, p.s_q, p.h_q, kHeadDimV},
                              {p.s_q * p.h_q * kHeadDimV, p.h_q * kHeadDimV, kHeadDimV, 1}));
  t.lse = make_tensor(strided(DType::kFloat32, {p.batch, p.h_q, p.s_q}, {p.h_q * p.s_q, p.s_q, 1}));
  fill_outputs(&t);
  return t;
}

MetadataArgs metadata_args(const Problem& p, DecodeTensors* t) {
  MetadataArgs a;
  a.cache_seqlens = t->cache_seqlens.view;
  a.q_rows_per_kv_head = static_cast<int>(p.q_rows());
  a.h_kv = static_cast<int>(p.h_kv);
  a.tile_scheduler_metadata = t->metadata.view;
  a.num_splits = t->num_splits.view;
  return a;
}

DecodeArgs decode_args(const Problem& p, DecodeTensors* t) {
  DecodeArgs a;
  a.q = t->q.view;
  a.k_cache = t->k_cache.view;
  a.block_table = t->block_table.view;
  a.cache_seqlens = t->cache_seqlens.view;
  a.tile_scheduler_metadata = t->metadata.view;
  a.num_splits = t->num_splits.view;
  a.out = t->out.view;
  a.lse = t->lse.view;
  a.softmax_scale = p.scale;
  a.causal = p.causal;
  return a;
}

// A plan as the real scheduler makes it: must always succeed on valid arguments.
void plan(const Problem& p, DecodeTensors* t, int q_rows, int h_kv) {
  MetadataArgs a = metadata_args(p, t);
  a.q_rows_per_kv_head = q_rows;
  a.h_kv = h_kv;
  const Status st = flashmla::get_mla_metadata(a);
  FUZZ_CHECK(st.ok());
  const int32_t* splits = t->num_splits.as<int32_t>();
  FUZZ_CHECK(splits[0] == 0);
  for (int64_t i = 0; i < p.batch; ++i) FUZZ_CHECK(splits[i + 1] > splits[i]);
  FUZZ_CHECK(splits[p.batch] <= p.batch + p.parts - 1);
}

// ---------------------------------------------------------------------------------------------
// Expectations and mutations shared by both calls
// ---------------------------------------------------------------------------------------------

enum class Expect { kAccept, kInvalidArgument, kInvalidData, kReject, kUnknown };

void check_outcome(const Status& st, Expect expect) {
  switch (expect) {
    case Expect::kAccept:
      FUZZ_CHECK(st.ok());
      break;
    case Expect::kInvalidArgument:
      FUZZ_CHECK(st.code() == StatusCode::kInvalidArgument);
      break;
    case Expect::kInvalidData:
      FUZZ_CHECK(st.code() == StatusCode::kInvalidInputData);
      break;
    case Expect::kReject:
      FUZZ_CHECK(!st.ok());
      break;
    case Expect::kUnknown:
      break;
  }
  // Every rejection carries a message naming what is wrong.
  FUZZ_CHECK(st.ok() || !st.message().empty());
}

// A change of one dtype to another, which no tensor of a call tolerates (each dtype is pinned).
DType other_dtype(DType d, Choices* in) {
  const DType all[] = {DType::kBFloat16, DType::kFloat16, DType::kFloat32, DType::kInt32,
                       static_cast<DType>(7)};
  DType next = all[in->byte() % 5];
  return next == d ? static_cast<DType>(9) : next;
}

// A device other than the CPU's, or a malformed one.
Device other_device(Choices* in) {
  switch (in->byte() % 3) {
    case 0:
      return Device{DeviceType::kCUDA, static_cast<int>(in->in(0, 3))};
    case 1:
      return Device{DeviceType::kCPU, static_cast<int>(in->in(1, 3))};
    default:
      return Device{static_cast<DeviceType>(in->in(2, 9)), 0};
  }
}

// ---------------------------------------------------------------------------------------------
// get_mla_metadata
// ---------------------------------------------------------------------------------------------

// Fuzzes one get_mla_metadata call on its own copies of the plan tensors.
void fuzz_metadata_call(const Problem& p, DecodeTensors* valid, Choices* in, Noise* noise) {
  DecodeTensors t;
  t.cache_seqlens = make_tensor(valid->cache_seqlens.view);
  std::memcpy(t.cache_seqlens.base(), valid->cache_seqlens.base(),
              static_cast<size_t>(valid->cache_seqlens.bytes));
  t.metadata = make_tensor(valid->metadata.view);
  t.num_splits = make_tensor(valid->num_splits.view);
  for (Tensor* plan : {&t.metadata, &t.num_splits}) {
    for (int64_t i = 0; i < plan->bytes / 4; ++i) plan->as<int32_t>()[i] = kPlanSentinel;
  }
  MetadataArgs a = metadata_args(p, &t);
  Tensor* tensors[] = {&t.cache_seqlens, &t.metadata, &t.num_splits};
  TensorView* views[] = {&a.cache_seqlens, &a.tile_scheduler_metadata, &a.num_splits};
  const int which = static_cast<int>(in->byte() % 3);
  TensorView* v = views[which];

  Expect expect = Expect::kAccept;
  switch (in->byte() % 16) {
    case 0:
      t.cache_seqlens.as<int32_t>()[in->in(0, p.batch - 1)] =
          -static_cast<int32_t>(in->in(1, 1 << 20));
      expect = Expect::kInvalidData;
      break;
    case 1:
      a.q_rows_per_kv_head =
          in->flag() ? -static_cast<int>(in->in(0, 5)) : static_cast<int>(in->in(1025, 1 << 30));
      expect = Expect::kInvalidArgument;
      break;
    case 2:
      a.h_kv =
          in->flag() ? -static_cast<int>(in->in(0, 5)) : static_cast<int>(in->in(129, 1 << 30));
      expect = Expect::kInvalidArgument;
      break;
    case 3:
      a.tile_scheduler_metadata.shape[1] = kMetadataFields + in->in(1, 8) * (in->flag() ? 1 : -1);
      expect = Expect::kInvalidArgument;
      break;
    case 4:
      a.tile_scheduler_metadata.shape[0] = 0;
      expect = Expect::kInvalidArgument;
      break;
    case 5:
      a.num_splits.shape[0] = p.batch + 1 + in->in(1, 3) * (in->flag() ? 1 : -1);
      expect = Expect::kInvalidArgument;
      break;
    case 6:
      v->dtype = other_dtype(v->dtype, in);
      expect = Expect::kInvalidArgument;
      break;
    case 7:
      v->device = other_device(in);
      expect = Expect::kReject;  // unsupported device or a mismatch, depending on which moved
      break;
    case 8:
      v->data = nullptr;
      expect = Expect::kInvalidArgument;
      break;
    case 9: {
      const int ndim = v->ndim;
      v->ndim = static_cast<int>(in->in(-1, 5));
      expect = v->ndim == ndim ? Expect::kAccept : Expect::kInvalidArgument;
      break;
    }
    case 10:
    case 11: {
      // Any size or stride: no known answer, but what is accepted must stay in bounds.
      const int dim = static_cast<int>(in->in(0, v->ndim - 1));
      if (in->flag()) {
        v->shape[dim] = in->in(-2, 12);
      } else {
        v->stride[dim] = in->in(-2, 20);
      }
      expect = Expect::kUnknown;
      break;
    }
    default:
      break;
  }
  for (int i = 0; i < 3; ++i) {
    tensors[i]->view = *views[i];
    back_claims(tensors[i], noise);
    *views[i] = tensors[i]->view;
  }

  const std::vector<uint8_t> metadata_before = snapshot(t.metadata);
  const std::vector<uint8_t> splits_before = snapshot(t.num_splits);
  const Status st = flashmla::get_mla_metadata(a);
  check_outcome(st, expect);
  if (!st.ok()) {
    FUZZ_CHECK(unchanged(t.metadata, metadata_before));
    FUZZ_CHECK(unchanged(t.num_splits, splits_before));
  }
}

// ---------------------------------------------------------------------------------------------
// mla_decode_with_kvcache
// ---------------------------------------------------------------------------------------------

// Compares the outputs of two accepted runs on the same data (plans may differ: split
// boundaries change the fp32 rounding, and out is then rounded to a 16-bit type).
bool same_result(const Problem& p, const DecodeTensors& a, const DecodeTensors& b) {
  const auto* oa = a.out.as<uint16_t>();
  const auto* ob = b.out.as<uint16_t>();
  for (int64_t i = 0; i < a.out.bytes / 2; ++i) {
    const float x = half_to_float(oa[i], p.dtype);
    const float y = half_to_float(ob[i], p.dtype);
    if (!(std::fabs(x - y) <= 0.04f)) return false;
  }
  const auto* la = a.lse.as<float>();
  const auto* lb = b.lse.as<float>();
  for (int64_t i = 0; i < a.lse.bytes / 4; ++i) {
    if (std::isinf(la[i]) || std::isinf(lb[i])) {
      if (la[i] != lb[i]) return false;
    } else if (!(std::fabs(la[i] - lb[i]) <= 1e-3f * (1.0f + std::fabs(lb[i])))) {
      return false;
    }
  }
  return true;
}

// The outputs of an accepted valid call: every element written, nothing NaN (the NaN slots of
// k_cache must never reach the result), rows without keys as out = 0, lse = +inf.
void check_valid_outputs(const Problem& p, const DecodeTensors& t) {
  const auto* out = t.out.as<uint16_t>();
  const auto* lse = t.lse.as<float>();
  for (int64_t i = 0; i < t.out.bytes / 2; ++i) {
    FUZZ_CHECK(out[i] != kOutSentinel);
    FUZZ_CHECK(!std::isnan(half_to_float(out[i], p.dtype)));
  }
  for (int64_t seq = 0; seq < p.batch; ++seq) {
    for (int64_t h = 0; h < p.h_q; ++h) {
      for (int64_t tok = 0; tok < p.s_q; ++tok) {
        const float v = lse[(seq * p.h_q + h) * p.s_q + tok];
        FUZZ_CHECK(!std::isnan(v) && v != -12345.5f);
        const int64_t visible =
            p.causal ? p.seqlens[seq] - p.s_q + tok + 1 : static_cast<int64_t>(p.seqlens[seq]);
        FUZZ_CHECK((visible <= 0) == (std::isinf(v) && v > 0));
        if (visible > 0) continue;
        const uint16_t* row = out + ((seq * p.s_q + tok) * p.h_q + h) * kHeadDimV;
        for (int c = 0; c < kHeadDimV; ++c) FUZZ_CHECK(half_to_float(row[c], p.dtype) == 0.0f);
      }
    }
  }
}

enum class Compare { kNo, kWithRealPlan };

void fuzz_decode_call(const Problem& p, DecodeTensors* t, Choices* in, Noise* noise) {
  DecodeArgs a = decode_args(p, t);
  Expect expect = Expect::kAccept;
  Compare compare = Compare::kNo;
  std::vector<Tensor*> tensors = t->all();
  TensorView* views[] = {
      &a.q,          &a.k_cache, &a.block_table, &a.cache_seqlens, &a.tile_scheduler_metadata,
      &a.num_splits, &a.out,     &a.lse};
  const int which = static_cast<int>(in->byte() % 8);
  TensorView* v = views[which];
  std::shared_ptr<uint8_t> workspace;
  int32_t* lens = t->cache_seqlens.as<int32_t>();
  int32_t* metadata = t->metadata.as<int32_t>();
  int32_t* splits = t->num_splits.as<int32_t>();

  switch (in->byte() % 24) {
    case 0:  // a length past the block table's capacity
      lens[in->in(0, p.batch - 1)] = static_cast<int32_t>(p.capacity() + in->in(1, 1 << 20));
      expect = Expect::kInvalidData;
      break;
    case 1:  // a negative length
      lens[in->in(0, p.batch - 1)] = -static_cast<int32_t>(in->in(1, 1 << 20));
      expect = Expect::kInvalidData;
      break;
    case 2: {  // a used page outside k_cache
      int64_t seq = in->in(0, p.batch - 1);
      for (int64_t n = 0; n < p.batch && p.pages(seq) == 0; ++n) seq = (seq + 1) % p.batch;
      if (p.pages(seq) == 0) break;
      const int64_t j = in->in(0, p.pages(seq) - 1);
      const int32_t bad = in->flag() ? static_cast<int32_t>(p.num_blocks + in->in(0, 1000))
                                     : -static_cast<int32_t>(in->in(1, 1000));
      t->block_table.as<int32_t>()[seq * p.table_row_stride + j] = bad;
      expect = Expect::kInvalidData;
      break;
    }
    case 3: {  // a plan stamped for another shape
      const int64_t part = in->in(0, p.parts - 1);
      const int field = static_cast<int>(in->in(5, 7));
      metadata[part * kMetadataFields + field] +=
          static_cast<int32_t>(in->in(1, 5)) * (in->flag() ? 1 : -1);
      expect = Expect::kInvalidData;
      break;
    }
    case 4:  // a plan made for other query rows or kv heads
      if (in->flag()) {
        plan(p, t, static_cast<int>(p.q_rows() + in->in(1, 100)), static_cast<int>(p.h_kv));
      } else {
        plan(p, t, static_cast<int>(p.q_rows()), static_cast<int>(p.h_kv % 2 + 1));
      }
      expect = Expect::kInvalidData;
      break;
    case 5:
      splits[0] = static_cast<int32_t>(in->in(1, 100)) * (in->flag() ? 1 : -1);
      expect = Expect::kInvalidData;
      break;
    case 6:
    case 7: {  // any plan field or split count: accepted only if still an exact cover
      const int64_t count = p.parts * kMetadataFields + p.batch + 1;
      const int64_t index = in->in(0, count - 1);
      const int32_t delta = static_cast<int32_t>(in->in(1, 3)) * (in->flag() ? 1 : -1);
      if (index < p.parts * kMetadataFields) {
        metadata[index] += delta;
      } else {
        splits[index - p.parts * kMetadataFields] += delta;
      }
      expect = Expect::kUnknown;
      compare = Compare::kWithRealPlan;
      break;
    }
    case 8: {  // a plan for other lengths of the same batch
      const std::vector<int32_t> real(lens, lens + p.batch);
      for (int64_t i = 0; i < p.batch; ++i) {
        lens[i] = static_cast<int32_t>(in->in(0, p.capacity()));
      }
      plan(p, t, static_cast<int>(p.q_rows()), static_cast<int>(p.h_kv));
      std::memcpy(lens, real.data(), real.size() * sizeof(int32_t));
      expect = Expect::kUnknown;
      compare = Compare::kWithRealPlan;
      break;
    }
    case 9:
      v->dtype = other_dtype(v->dtype, in);
      expect = Expect::kInvalidArgument;
      break;
    case 10: {  // a size the call pins to other arguments or constants
      struct Pinned {
        int tensor;
        int dim;
      };
      const Pinned pinned[] = {{0, 0}, {0, 1}, {0, 2}, {0, 3}, {1, 1}, {1, 3},
                               {2, 0}, {3, 0}, {4, 1}, {5, 0}, {6, 0}, {6, 1},
                               {6, 2}, {6, 3}, {7, 0}, {7, 1}, {7, 2}};
      const Pinned& pick = pinned[in->byte() % (sizeof(pinned) / sizeof(pinned[0]))];
      int64_t& size = views[pick.tensor]->shape[pick.dim];
      size = in->flag() ? size + in->in(1, 4) : size - in->in(1, 4);
      expect = Expect::kInvalidArgument;
      break;
    }
    case 11: {  // k_cache's page count or the block table's width: fine while the data agree
      int64_t& size = in->flag() ? a.k_cache.shape[0] : a.block_table.shape[1];
      size = in->flag() ? size + in->in(0, 4) : size - in->in(0, size);
      expect = Expect::kUnknown;
      compare = Compare::kWithRealPlan;
      break;
    }
    case 12: {
      const int ndim = v->ndim;
      v->ndim = static_cast<int>(in->in(-1, 5));
      expect = v->ndim == ndim ? Expect::kAccept : Expect::kInvalidArgument;
      break;
    }
    case 13: {  // any stride
      const int dim = static_cast<int>(in->in(0, v->ndim - 1));
      const int64_t before = v->stride[dim];
      v->stride[dim] = in->in(-3, 2 * before + 3);
      const bool moves = v->numel() > 0 && v->shape[dim] > 1 && v->stride[dim] != before;
      // Zero or negative steps are never accepted; out, lse, cache_seqlens and the plan must stay
      // contiguous; q, k_cache and block_table need stride 1 in the last dimension.
      const bool pinned_layout = which >= 3 || dim == v->ndim - 1;
      if (moves && (v->stride[dim] <= 0 || pinned_layout)) {
        expect = Expect::kInvalidArgument;
      } else {
        expect = Expect::kUnknown;
      }
      break;
    }
    case 14:
      v->device = other_device(in);
      expect = Expect::kReject;
      break;
    case 15:
      if (v->numel() == 0) break;
      // Null, or one byte off: every dtype here is at least 2 bytes wide.
      v->data = in->flag() ? nullptr : static_cast<void*>(static_cast<uint8_t*>(v->data) + 1);
      expect = Expect::kInvalidArgument;
      break;
    case 16:
      a.softmax_scale = in->flag() ? -static_cast<float>(in->in(1, 100)) / 8.0f
                                   : (in->flag() ? NAN : INFINITY * (in->flag() ? 1.0f : -1.0f));
      expect = Expect::kInvalidArgument;
      break;
    case 17:
      a.head_dim_v = static_cast<int>(in->in(0, 1024));
      expect = a.head_dim_v == kHeadDimV ? Expect::kAccept : Expect::kInvalidArgument;
      break;
    case 18: {  // a caller workspace: exact, short or misaligned
      const size_t need = flashmla::decode_workspace_size(
          p.batch, p.parts, static_cast<int>(p.q_rows()), static_cast<int>(p.h_kv));
      const int kind = static_cast<int>(in->byte() % 3);
      workspace = allocate(static_cast<int64_t>(need) + 16);
      a.workspace = workspace.get() + (kind == 2 ? 4 * in->in(1, 3) : 0);
      a.workspace_bytes = kind == 1 ? need - static_cast<size_t>(in->in(1, 64)) : need;
      expect = kind == 0 ? Expect::kAccept : Expect::kInvalidArgument;
      break;
    }
    case 19: {  // a huge size: must neither overflow nor touch memory it was not given
      const int dim = static_cast<int>(in->in(0, v->ndim - 1));
      // Not the plan's row count: validation reads every row of the plan it is handed, so a
      // caller claiming 2^31 rows must provide them.
      if (which == 4 && dim == 0) break;
      v->shape[dim] = (int64_t{1} << in->in(31, 62)) + in->in(-1, 1);
      expect = Expect::kUnknown;
      break;
    }
    default:
      break;
  }

  for (size_t i = 0; i < tensors.size(); ++i) {
    tensors[i]->view = *views[i];
    back_claims(tensors[i], noise);
    *views[i] = tensors[i]->view;
  }

  const std::vector<uint8_t> out_before = snapshot(t->out);
  const std::vector<uint8_t> lse_before = snapshot(t->lse);
  const Status st = flashmla::mla_decode_with_kvcache(a);
  check_outcome(st, expect);
  if (!st.ok()) {
    FUZZ_CHECK(unchanged(t->out, out_before));
    FUZZ_CHECK(unchanged(t->lse, lse_before));
    return;
  }
  if (expect == Expect::kAccept) check_valid_outputs(p, *t);
  if (compare == Compare::kWithRealPlan) {
    // The same data through the real plan, on fresh tensors.
    DecodeTensors ref = make_tensors(p, noise);
    std::memcpy(ref.q.base(), t->q.base(), static_cast<size_t>(ref.q.bytes));
    std::memcpy(ref.k_cache.base(), t->k_cache.base(), static_cast<size_t>(ref.k_cache.bytes));
    std::memcpy(ref.block_table.base(), t->block_table.base(),
                static_cast<size_t>(ref.block_table.bytes));
    plan(p, &ref, static_cast<int>(p.q_rows()), static_cast<int>(p.h_kv));
    FUZZ_CHECK(flashmla::mla_decode_with_kvcache(decode_args(p, &ref)).ok());
    FUZZ_CHECK(same_result(p, *t, ref));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Choices in(data, size);
  const Problem p = make_problem(&in);
  Noise noise(in.u32());
  DecodeTensors t = make_tensors(p, &noise);
  fuzz_metadata_call(p, &t, &in, &noise);
  plan(p, &t, static_cast<int>(p.q_rows()), static_cast<int>(p.h_kv));
  fuzz_decode_call(p, &t, &in, &noise);
  return 0;
}
