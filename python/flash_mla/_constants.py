"""The problem's fixed sizes, mirroring include/flashmla/constants.h.

The C library validates every call against its own constants; these copies only let the Python side
size outputs and name expectations in docstrings and messages. A test checks that the library agrees.
"""

# Width of a key (and of a query): 512 latent columns followed by 64 rotary columns.
HEAD_DIM_K = 576
# Width of a value: the first 512 columns of the key row.
HEAD_DIM_V = 512
# Tokens per KV-cache page.
PAGE_SIZE = 64
# Query rows (s_q * h_q / h_kv) one GPU thread block owns; the unit of the SM-part formula.
BLOCK_ROWS = 64
# Columns of one tile-scheduler metadata row.
METADATA_FIELDS = 8
# Largest s_q (speculative decoding) and h_q the library accepts.
MAX_QUERY_TOKENS = 8
MAX_QUERY_HEADS = 128
