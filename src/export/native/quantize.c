/*
 * distill-quantize: llama.cpp's own quantizer (llama_model_quantize in the libllama that node-llama-cpp
 * ships) run on a GGUF, as `llama-quantize` does. A separate process because llama.cpp aborts the whole
 * process on a fatal error; the CLI then reports it instead of dying with it.
 *
 *   distill-quantize <libllama.so> <in.gguf> <out.gguf> <llama_ftype> <threads>
 *
 * The library is opened at run time (its path comes from the caller, which finds node-llama-cpp's
 * binaries), so the build needs no llama.cpp headers: the parameter struct is declared here with the
 * layout of include/llama.h in node-llama-cpp's llama.cpp release. Only the first two fields are set;
 * the rest keep the library's defaults, and the trailing reserve leaves room should the library's struct
 * have grown (it is returned by value into caller memory).
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
  int32_t nthread;
  int32_t ftype; /* enum llama_ftype */
  int32_t output_tensor_type;
  int32_t token_embedding_type;
  bool allow_requantize;
  bool quantize_output_tensor;
  bool only_copy;
  bool pure;
  bool keep_split;
  bool dry_run;
  const void *imatrix;
  const void *kv_overrides;
  const void *tt_overrides;
  const int32_t *prune_layers;
  size_t max_buf_size;
  unsigned char reserve[256];
} quantize_params;

typedef quantize_params (*default_params_fn)(void);
typedef uint32_t (*quantize_fn)(const char *, const char *, const quantize_params *);
typedef void (*backend_init_fn)(void);

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s <libllama.so> <in.gguf> <out.gguf> <ftype> <threads>\n", argv[0]);
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "cannot open %s: %s\n", argv[1], dlerror());
    return 3;
  }
  default_params_fn defaults = (default_params_fn)dlsym(lib, "llama_model_quantize_default_params");
  quantize_fn quantize = (quantize_fn)dlsym(lib, "llama_model_quantize");
  backend_init_fn backend_init = (backend_init_fn)dlsym(lib, "llama_backend_init");
  if (!defaults || !quantize || !backend_init) {
    fprintf(stderr, "%s has no llama_model_quantize\n", argv[1]);
    return 3;
  }
  backend_init();
  quantize_params params = defaults();
  params.ftype = atoi(argv[4]);
  params.nthread = atoi(argv[5]);
  uint32_t rc = quantize(argv[2], argv[3], &params);
  if (rc != 0) {
    fprintf(stderr, "llama_model_quantize failed (%u)\n", rc);
    return 1;
  }
  return 0;
}
