#ifndef CIMAGE_H
#define CIMAGE_H
#include <stddef.h>

/// A decoded 8-bit image: 1 (gray) or 3 (RGB) interleaved channels, or an error message.
typedef struct {
    int width, height, channels;
    unsigned char *pixels;
    char error[200];
} cimage;

/// Decode PNG (libpng) or JPEG (libjpeg-turbo) bytes. Return 0 on success; otherwise non-zero with
/// `error` set (corrupt or hostile input never aborts the process). Free with cimage_free.
int cimage_decode_png(const unsigned char *data, size_t size, cimage *out);
int cimage_decode_jpeg(const unsigned char *data, size_t size, cimage *out);
void cimage_free(cimage *image);

#endif
