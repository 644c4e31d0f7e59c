{
  "targets": [
    {
      "target_name": "ldfa_blas",
      "sources": ["src/blas.c"],
      "cflags": ["-O3", "-fno-math-errno", "-std=c11"],
      "libraries": ["-ldl"]
    }
  ]
}
