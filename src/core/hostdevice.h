// Lets a header of plain integer logic compile for both the host compiler and nvcc.
#pragma once

#if defined(__CUDACC__)
#define FLASHMLA_HD __host__ __device__
#else
#define FLASHMLA_HD
#endif
