"""Wire contracts: topics, strict decoding, signing (DESIGN §3). Pure: no I/O, no clocks."""
