/* classify: runs a .fnn image classifier on one image and prints its five best classes.
 *
 *     classify model.fnn image.npy [num_threads]
 *     classify model.fnn image.raw [num_threads]
 *
 * The image is one sample of the model's first input, in that input's dtype and layout (NCHW
 * float32, or uint8 / int8 for a quantized input): a .npy file (C order, any shape with the
 * right number of elements) or the raw bytes. Prints one line per class, best first: rank,
 * class index and score, the score with %.9g (enough digits to give the float back exactly). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <frugalnn.h>

static unsigned char* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  unsigned char* data = NULL;
  long n = -1;
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) {
    data = malloc(n > 0 ? (size_t)n : 1);
    if (data != NULL && fread(data, 1, (size_t)n, f) != (size_t)n) {
      free(data);
      data = NULL;
    }
    *size = (size_t)n;
  }
  fclose(f);
  return data;
}

static int contains(const char* text, size_t n, const char* word) {
  size_t i, k = strlen(word);
  for (i = 0; i + k <= n; ++i) {
    if (memcmp(text + i, word, k) == 0) return 1;
  }
  return 0;
}

/* The numpy dtype an input of this type is stored as. */
static const char* npy_descr(frugalnn_dtype dtype) {
  return dtype == FRUGALNN_UINT8 ? "'|u1'" : dtype == FRUGALNN_INT8 ? "'|i1'" : "'<f4'";
}

/* The array data of a .npy file (format 1.0 to 3.0) holding `dtype` in C order, or NULL with a
 * message on stderr. */
static const unsigned char* npy_data(const unsigned char* file, size_t size, frugalnn_dtype dtype,
                                     size_t* data_bytes) {
  size_t header_len, start;
  const char* header;
  if (file[6] == 1 && size >= 10) {
    header_len = (size_t)file[8] | (size_t)file[9] << 8;
    start = 10;
  } else if ((file[6] == 2 || file[6] == 3) && size >= 12) {
    header_len = (size_t)file[8] | (size_t)file[9] << 8 | (size_t)file[10] << 16 | (size_t)file[11] << 24;
    start = 12;
  } else {
    fprintf(stderr, "not a .npy file this reader knows (version %d)\n", file[6]);
    return NULL;
  }
  if (header_len > size - start) {
    fprintf(stderr, "truncated .npy header\n");
    return NULL;
  }
  /* The header is a Python dict literal; its dtype and order are what matters here (the
   * element count is checked against the model by the caller). */
  header = (const char*)file + start;
  if (!contains(header, header_len, npy_descr(dtype))) {
    fprintf(stderr, "the .npy array's dtype is not the model input's (%s)\n", npy_descr(dtype));
    return NULL;
  }
  if (!contains(header, header_len, "'fortran_order': False")) {
    fprintf(stderr, "the .npy array is not in C order\n");
    return NULL;
  }
  *data_bytes = size - start - header_len;
  return file + start + header_len;
}

int main(int argc, char** argv) {
  frugalnn_model* model = NULL;
  frugalnn_session* session = NULL;
  frugalnn_tensor_info in_info, out_info;
  unsigned char* file = NULL;
  const unsigned char* image;
  float* scores = NULL;
  size_t file_size = 0, image_bytes, num_threads = 1, i, k, top[5], n_top;
  int rc = 1;

  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s model.fnn image.npy|image.raw [num_threads]\n", argv[0]);
    return 2;
  }
  if (argc == 4) num_threads = (size_t)strtoul(argv[3], NULL, 10);

  if (frugalnn_model_load_file(argv[1], 0, &model) != FRUGALNN_OK) {
    fprintf(stderr, "cannot load the model: %s\n", frugalnn_model_error(model));
    goto done;
  }
  if (frugalnn_model_input_count(model) != 1 || frugalnn_model_input(model, 0, &in_info) != FRUGALNN_OK ||
      frugalnn_model_output(model, 0, &out_info) != FRUGALNN_OK) {
    fprintf(stderr, "not a classifier: the model has %zu inputs, %zu outputs\n",
            frugalnn_model_input_count(model), frugalnn_model_output_count(model));
    goto done;
  }
  file = read_file(argv[2], &file_size);
  if (file == NULL) {
    fprintf(stderr, "cannot read %s\n", argv[2]);
    goto done;
  }
  image = file;
  image_bytes = file_size;
  if (file_size >= 6 && memcmp(file, "\x93NUMPY", 6) == 0) {
    image = npy_data(file, file_size, in_info.dtype, &image_bytes);
    if (image == NULL) goto done;
  }
  if (image_bytes != in_info.sample_bytes) {
    fprintf(stderr, "the image has %zu bytes; input '%s' takes %zu\n", image_bytes, in_info.name,
            in_info.sample_bytes);
    goto done;
  }

  if (frugalnn_session_create(model, 1, num_threads, 0, &session) != FRUGALNN_OK) {
    fprintf(stderr, "cannot create a session: %s\n", frugalnn_session_error(session));
    goto done;
  }
  scores = malloc(out_info.sample_bytes);
  if (scores == NULL) goto done;
  {
    const void* inputs[1];
    void* outputs[1];
    inputs[0] = image;
    outputs[0] = scores;
    if (frugalnn_session_run(session, 1, 1, inputs, &in_info.sample_bytes, 1, outputs,
                             &out_info.sample_bytes) != FRUGALNN_OK) {
      fprintf(stderr, "the run failed: %s\n", frugalnn_session_error(session));
      goto done;
    }
  }

  /* The five best, highest score first; ties go to the lower class index. */
  n_top = out_info.sample_elems < 5 ? out_info.sample_elems : 5;
  for (k = 0; k < n_top; ++k) {
    size_t best = (size_t)-1;
    for (i = 0; i < out_info.sample_elems; ++i) {
      size_t j;
      int taken = 0;
      for (j = 0; j < k; ++j) taken |= top[j] == i;
      if (!taken && (best == (size_t)-1 || scores[i] > scores[best])) best = i;
    }
    top[k] = best;
    printf("%zu\t%zu\t%.9g\n", k + 1, best, scores[best]);
  }
  rc = 0;

done:
  free(scores);
  free(file);
  frugalnn_session_free(session);
  frugalnn_model_free(model);
  return rc;
}
