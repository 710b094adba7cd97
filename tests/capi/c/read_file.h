/* The test programs' whole-file read: malloc'ed bytes (one more than the file, so an empty
 * file gives a valid pointer) and *size, or NULL when the file cannot be read. */
#ifndef FRUGALNN_TESTS_READ_FILE_H
#define FRUGALNN_TESTS_READ_FILE_H

#include <stdio.h>
#include <stdlib.h>

static unsigned char* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  unsigned char* data = NULL;
  long n = -1;
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) {
    data = malloc((size_t)n + 1);
    if (data != NULL && fread(data, 1, (size_t)n, f) != (size_t)n) {
      free(data);
      data = NULL;
    }
    *size = (size_t)n;
  }
  fclose(f);
  return data;
}

#endif
