/* Glyph tables from any font FreeType opens (BDF, PCF, OTF, TTF...): every Unicode-mapped glyph
 * rasterised monochrome into a 16x16 cell. */
#include "clippo/text.h"

#include <ft2build.h>
#include FT_FREETYPE_H
#include FT_BITMAP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A message for a FreeType error code (FreeType builds may lack FT_Error_String's texts). */
static const char *ft_error_text(FT_Error e, char *buf, size_t size) {
  const char *s = FT_Error_String(e);
  if (!s) {
    switch (e) {
    case FT_Err_Cannot_Open_Resource: s = "cannot open the file"; break;
    case FT_Err_Unknown_File_Format: s = "unknown file format"; break;
    case FT_Err_Invalid_File_Format: s = "broken file"; break;
    case FT_Err_Out_Of_Memory: s = "out of memory"; break;
    case FT_Err_Invalid_Pixel_Size: s = "invalid pixel size"; break;
    default: break;
    }
  }
  if (s)
    snprintf(buf, size, "%s (FreeType error 0x%02X)", s, (unsigned)e);
  else
    snprintf(buf, size, "FreeType error 0x%02X", (unsigned)e);
  return buf;
}

/* Chooses the size: scalable fonts get ascender - descender = 16 pixels; bitmap fonts the strike
 * whose height is nearest 16 (preferring smaller ones). Sets *baseline, the row of the baseline. */
static FT_Error set_size(FT_Face face, int *baseline) {
  if (FT_IS_SCALABLE(face)) {
    long asc = face->ascender, desc = face->descender;
    long h = asc - desc;
    if (asc <= 0 || h <= 0) {
      /* No usable vertical metrics: 16 pixels per em, baseline at 14. */
      *baseline = 14;
      return FT_Set_Pixel_Sizes(face, 0, 16);
    }
    FT_Size_RequestRec req;
    memset(&req, 0, sizeof req);
    req.type = FT_SIZE_REQUEST_TYPE_REAL_DIM;
    req.height = (FT_Long)16 * 64;
    FT_Error e = FT_Request_Size(face, &req);
    if (e) return e;
    *baseline = (int)((asc * 16 + h / 2) / h);
    return 0;
  }
  if (face->num_fixed_sizes <= 0) return FT_Err_Invalid_Pixel_Size;
  int best = 0;
  long best_score = -1;
  for (int i = 0; i < face->num_fixed_sizes; i++) {
    long hgt = face->available_sizes[i].height;
    long score = hgt <= 16 ? (16 - hgt) * 2 : (hgt - 16) * 2 + 1;
    if (best_score < 0 || score < best_score) {
      best = i;
      best_score = score;
    }
  }
  FT_Error e = FT_Select_Size(face, best);
  if (e) return e;
  long asc = face->size->metrics.ascender; /* 26.6 */
  long hgt = face->available_sizes[best].height;
  *baseline = asc > 0 ? (int)((asc + 32) >> 6) : (int)(hgt > 16 ? 14 : hgt - hgt / 8);
  return 0;
}

/* Copies the rendered bitmap of the glyph slot into a 16x16 cell. */
static FT_Error slot_to_cell(FT_Library lib, FT_GlyphSlot slot, int baseline, uint16_t rows[16]) {
  memset(rows, 0, 16 * sizeof rows[0]);
  FT_Bitmap *bm = &slot->bitmap;
  FT_Bitmap conv;
  FT_Bitmap_Init(&conv);
  int gray_max = 1;
  if (bm->pixel_mode != FT_PIXEL_MODE_MONO && bm->pixel_mode != FT_PIXEL_MODE_GRAY) {
    FT_Error e = FT_Bitmap_Convert(lib, bm, &conv, 1);
    if (e) return e;
    bm = &conv;
  }
  if (bm->pixel_mode == FT_PIXEL_MODE_GRAY) gray_max = bm->num_grays > 1 ? bm->num_grays - 1 : 1;
  const int top = baseline - slot->bitmap_top;
  const int left = slot->bitmap_left;
  const unsigned pitch = (unsigned)abs(bm->pitch);
  for (unsigned y = 0; y < bm->rows; y++) {
    int cy = top + (int)y;
    if (cy < 0 || cy >= 16) continue;
    const unsigned char *row =
        bm->buffer + (size_t)(bm->pitch >= 0 ? y : bm->rows - 1 - y) * (size_t)pitch;
    for (unsigned x = 0; x < bm->width; x++) {
      int cx = left + (int)x;
      if (cx < 0 || cx >= 16) continue;
      int on;
      if (bm->pixel_mode == FT_PIXEL_MODE_MONO)
        on = (row[x >> 3] >> (7 - (x & 7))) & 1;
      else
        on = 2 * row[x] >= gray_max + 1;
      if (on) rows[cy] |= (uint16_t)(0x8000u >> cx);
    }
  }
  FT_Bitmap_Done(lib, &conv);
  return 0;
}

clippo_status clippo_font_add_freetype(clippo_font *font, const char *path, clippo_error *err) {
  if (!font || !path) return clippo_fail(err, CLIPPO_E_ARG, "add_freetype: NULL argument");
  FT_Library lib = NULL;
  FT_Face face = NULL;
  char msg[128];
  FT_Error e = FT_Init_FreeType(&lib);
  if (e)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "font file %s: FreeType initialisation: %s", path,
                       ft_error_text(e, msg, sizeof msg));
  clippo_status st = CLIPPO_OK;
  /* FreeType maps or reads the whole file itself: cap it as the .hex reader does */
  struct stat sb;
  if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
      (uintmax_t)sb.st_size > CLIPPO_FONT_MAX_FILE_BYTES) {
    st = clippo_fail(err, CLIPPO_E_IO, "font file %s: larger than %zu MiB (not a font file?)", path,
                     CLIPPO_FONT_MAX_FILE_BYTES >> 20);
    goto out;
  }
  e = FT_New_Face(lib, path, 0, &face);
  if (e) {
    st = clippo_fail(err, CLIPPO_E_FORMAT, "font file %s: FreeType cannot open it as a font: %s",
                     path, ft_error_text(e, msg, sizeof msg));
    goto out;
  }
  if (FT_Select_Charmap(face, FT_ENCODING_UNICODE) != 0) {
    st = clippo_fail(err, CLIPPO_E_UNSUPPORTED, "font file %s: has no Unicode character map", path);
    goto out;
  }
  int baseline = 14;
  e = set_size(face, &baseline);
  if (e) {
    st = clippo_fail(err, CLIPPO_E_UNSUPPORTED, "font file %s: cannot size it to 16 pixels: %s",
                     path, ft_error_text(e, msg, sizeof msg));
    goto out;
  }
  size_t loaded = 0, failed = 0;
  FT_UInt gi = 0;
  FT_ULong cp = FT_Get_First_Char(face, &gi);
  const FT_Int32 flags = FT_LOAD_RENDER | FT_LOAD_TARGET_MONO | FT_LOAD_MONOCHROME;
  while (gi != 0) {
    if (cp < CLIPPO_MAX_CODEPOINT) {
      uint16_t rows[16];
      e = FT_Load_Glyph(face, gi, flags);
      if (!e) e = slot_to_cell(lib, face->glyph, baseline, rows);
      if (e) {
        failed++;
      } else {
        st = clippo_font_set_glyph(font, (uint32_t)cp, rows, err);
        if (st) {
          clippo_error_prefix(err, "font file %s", path);
          goto out;
        }
        loaded++;
      }
    }
    cp = FT_Get_Next_Char(face, cp, &gi);
  }
  if (loaded == 0)
    st = clippo_fail(err, CLIPPO_E_FORMAT,
                     "font file %s: no glyph could be rasterised (%zu failed)", path, failed);
out:
  if (face) FT_Done_Face(face);
  FT_Done_FreeType(lib);
  return st;
}
