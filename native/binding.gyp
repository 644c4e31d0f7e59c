{
  "targets": [
    {
      "target_name": "ldfa_blas",
      "sources": ["src/blas.c", "src/layers.c", "src/pair.c"],
      "cflags": ["-O3", "-fno-math-errno", "-fno-trapping-math", "-std=c11", "-pthread"],
      "libraries": ["-ldl", "-pthread"]
    }
  ]
}
