{
  "targets": [
    {
      "target_name": "ldfa_blas",
      "sources": ["src/blas.c"],
      "cflags": ["-O2", "-std=c11"],
      "libraries": ["-ldl"]
    }
  ]
}
