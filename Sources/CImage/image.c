// PNG and JPEG decoding for calibration images, through Debian's libpng and libjpeg-turbo.
#include "cimage.h"
#include <png.h>
#include <jpeglib.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Refuse images over 64 megapixels: calibration faces are small, and a hostile header must not
// make us allocate gigabytes.
#define CIMAGE_MAX_PIXELS (64u * 1024u * 1024u)

// Status 1: the file is corrupt; 2: it is valid but not something fercc decodes (or too big).
static int fail_as(cimage *out, int status, const char *message) {
    snprintf(out->error, sizeof out->error, "%s", message);
    return status;
}

static int fail(cimage *out, const char *message) { return fail_as(out, 1, message); }

int cimage_decode_png(const unsigned char *data, size_t size, cimage *out) {
    memset(out, 0, sizeof *out);
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, size)) return fail(out, image.message);
    if ((unsigned long long)image.width * image.height > CIMAGE_MAX_PIXELS) {
        png_image_free(&image);
        return fail_as(out, 2, "image larger than 64 megapixels");
    }
    int gray = (image.format & PNG_FORMAT_FLAG_COLOR) == 0;
    image.format = gray ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    size_t bytes = PNG_IMAGE_SIZE(image);
    out->pixels = malloc(bytes ? bytes : 1);
    if (!out->pixels) { png_image_free(&image); return fail_as(out, 2, "out of memory"); }
    if (!png_image_finish_read(&image, NULL, out->pixels, 0, NULL)) {
        free(out->pixels);
        out->pixels = NULL;
        return fail(out, image.message);
    }
    out->width = (int)image.width;
    out->height = (int)image.height;
    out->channels = gray ? 1 : 3;
    return 0;
}

struct jpeg_failure {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void jpeg_fail(j_common_ptr info) {
    struct jpeg_failure *f = (struct jpeg_failure *)info->err;
    (*info->err->format_message)(info, f->message);
    longjmp(f->jump, 1);
}

static void jpeg_quiet(j_common_ptr info, int level) { (void)info; (void)level; }

int cimage_decode_jpeg(const unsigned char *data, size_t size, cimage *out) {
    memset(out, 0, sizeof *out);
    struct jpeg_decompress_struct info;
    struct jpeg_failure failure;
    memset(&failure, 0, sizeof failure);
    info.err = jpeg_std_error(&failure.base);
    failure.base.error_exit = jpeg_fail;
    failure.base.emit_message = jpeg_quiet;
    unsigned char *volatile pixels = NULL;
    if (setjmp(failure.jump)) {
        jpeg_destroy_decompress(&info);
        free(pixels);
        return fail(out, failure.message);
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);
    if ((unsigned long long)info.image_width * info.image_height > CIMAGE_MAX_PIXELS) {
        jpeg_destroy_decompress(&info);
        return fail_as(out, 2, "image larger than 64 megapixels");
    }
    if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&info);
        return fail_as(out, 2, "a CMYK JPEG: its color space is not supported (save it as RGB or grayscale)");
    }
    int gray = info.num_components == 1;
    info.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&info);
    size_t stride = (size_t)info.output_width * info.output_components;
    pixels = malloc(stride * info.output_height + 1);
    if (!pixels) { jpeg_destroy_decompress(&info); return fail_as(out, 2, "out of memory"); }
    while (info.output_scanline < info.output_height) {
        JSAMPROW row = pixels + stride * info.output_scanline;
        jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
    out->width = (int)info.output_width;
    out->height = (int)info.output_height;
    out->channels = info.output_components;
    out->pixels = pixels;
    jpeg_destroy_decompress(&info);
    return 0;
}

void cimage_free(cimage *image) {
    free(image->pixels);
    image->pixels = NULL;
}
