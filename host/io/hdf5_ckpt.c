/* HDF5 checkpoints: /params/<path> datasets, config and free-form attributes on "/", /opt/...
 * Writes go to a temporary file that replaces the target only once complete. */
#include <hdf5.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clippo/atomic_file.h"
#include "clippo/checkpoint.h"
#include "io/isolate.h"

/* Datasets may claim more logical bytes than the file holds only through compression. */
#define MAX_COMPRESSION_RATIO 1100u
/* Largest string attribute read. */
#define MAX_ATTR_STRING (16u << 20)

/* ---- HDF5 error reporting ---- */

typedef struct h5_silence {
  H5E_auto2_t func;
  void *data;
} h5_silence;

static void silence_on(h5_silence *s) {
  s->func = NULL;
  s->data = NULL;
  H5Eget_auto2(H5E_DEFAULT, &s->func, &s->data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void silence_off(const h5_silence *s) { H5Eset_auto2(H5E_DEFAULT, s->func, s->data); }

typedef struct h5_walk {
  char inner[256], outer[256];
  int n;
} h5_walk;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *ud) {
  h5_walk *w = ud;
  (void)n;
  const char *d = e && e->desc ? e->desc : "";
  if (w->n == 0) snprintf(w->inner, sizeof w->inner, "%s", d);
  snprintf(w->outer, sizeof w->outer, "%s", d);
  w->n++;
  return 0;
}

/* The HDF5 error stack as "outer (inner)" in buf; clears the stack. */
static const char *h5_detail(char *buf, size_t cap) {
  h5_walk w;
  memset(&w, 0, sizeof w);
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &w);
  H5Eclear2(H5E_DEFAULT);
  if (w.n == 0)
    snprintf(buf, cap, "HDF5 error");
  else if (w.n == 1 || !strcmp(w.inner, w.outer))
    snprintf(buf, cap, "%s", w.inner);
  else
    snprintf(buf, cap, "%s (%s)", w.outer, w.inner);
  return buf;
}

#define H5FAIL(err, st, ...) h5_fail(err, st, __VA_ARGS__)

static clippo_status h5_fail(clippo_error *err, clippo_status st, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static clippo_status h5_fail(clippo_error *err, clippo_status st, const char *fmt, ...) {
  char what[1024], detail[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return clippo_fail(err, st, "%s: %s", what, h5_detail(detail, sizeof detail));
}

/* ---- attributes ---- */

/* Reads a string attribute (fixed or variable length, scalar or one element). 1 if it is not a
 * string, 0 on success, -1 on an HDF5 error. */
static int read_str_attr(hid_t aid, char **out) {
  *out = NULL;
  hid_t ft = H5Aget_type(aid), sp = H5Aget_space(aid), mt = -1;
  int rc = -1;
  if (ft < 0 || sp < 0) goto done;
  if (H5Tget_class(ft) != H5T_STRING) {
    rc = 1;
    goto done;
  }
  if (H5Sget_simple_extent_npoints(sp) != 1) {
    rc = 1;
    goto done;
  }
  mt = H5Tcopy(H5T_C_S1);
  if (mt < 0) goto done;
  htri_t var = H5Tis_variable_str(ft);
  if (var > 0) {
    char *p = NULL;
    if (H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Tset_cset(mt, H5Tget_cset(ft)) < 0 ||
        H5Aread(aid, mt, &p) < 0)
      goto done;
    *out = strdup(p ? p : "");
    H5free_memory(p);
    rc = *out ? 0 : -1;
  } else if (var == 0) {
    size_t n = H5Tget_size(ft);
    if (n == 0 || n > MAX_ATTR_STRING) goto done;
    char *buf = calloc(n + 1, 1);
    if (!buf) goto done;
    if (H5Tset_size(mt, n) < 0 || H5Tset_strpad(mt, H5T_STR_NULLPAD) < 0 ||
        H5Tset_cset(mt, H5Tget_cset(ft)) < 0 || H5Aread(aid, mt, buf) < 0) {
      free(buf);
      goto done;
    }
    *out = buf;
    rc = 0;
  }
done:
  if (mt >= 0) H5Tclose(mt);
  if (ft >= 0) H5Tclose(ft);
  if (sp >= 0) H5Sclose(sp);
  return rc;
}

/* Reads a numeric scalar attribute as double; 1 if not numeric/scalar, -1 on HDF5 error. */
static int read_num_attr(hid_t aid, double *v, int *is_int) {
  hid_t ft = H5Aget_type(aid), sp = H5Aget_space(aid);
  int rc = -1;
  if (ft < 0 || sp < 0) goto done;
  H5T_class_t cls = H5Tget_class(ft);
  if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || H5Sget_simple_extent_npoints(sp) != 1) {
    rc = 1;
    goto done;
  }
  *is_int = cls == H5T_INTEGER;
  if (cls == H5T_INTEGER) {
    long long x = 0;
    if (H5Aread(aid, H5T_NATIVE_LLONG, &x) < 0) goto done;
    *v = (double)x;
  } else if (H5Aread(aid, H5T_NATIVE_DOUBLE, v) < 0) {
    goto done;
  }
  rc = 0;
done:
  if (ft >= 0) H5Tclose(ft);
  if (sp >= 0) H5Sclose(sp);
  return rc;
}

static const char *const int_keys[] = {"width", "depth",      "heads",   "mlp_dim",
                                       "patch", "image_size", "out_dim", NULL};

static int is_reserved(const char *k) {
  for (int i = 0; int_keys[i]; i++)
    if (!strcmp(k, int_keys[i])) return 1;
  return !strcmp(k, "pool") || !strcmp(k, "ln_eps") || !strcmp(k, "font") || !strcmp(k, "step");
}

typedef struct root_ud {
  clippo_checkpoint *ck;
  const char *path;
  clippo_error *err;
  clippo_status st;
  int found[8]; /* int_keys present */
  int have_pool, have_eps, have_font;
} root_ud;

static int *int_field(clippo_config *c, int i) {
  int *f[] = {&c->width, &c->depth, &c->heads, &c->mlp_dim, &c->patch, &c->image_size, &c->out_dim};
  return f[i];
}

static herr_t root_attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *vud) {
  root_ud *u = vud;
  (void)info;
  hid_t aid = H5Aopen(loc, name, H5P_DEFAULT);
  if (aid < 0) {
    u->st = H5FAIL(u->err, CLIPPO_E_FORMAT, "%s: attribute '%s' unreadable", u->path, name);
    return -1;
  }
  char *s = NULL;
  double v = 0;
  int is_int = 0, rc;
  clippo_config *c = &u->ck->cfg;
  int ki = -1;
  for (int i = 0; int_keys[i]; i++)
    if (!strcmp(name, int_keys[i])) ki = i;
  if (ki >= 0 || !strcmp(name, "step")) {
    rc = read_num_attr(aid, &v, &is_int);
    if (rc == 0 && (v != floor(v) || fabs(v) > 9.0e15)) rc = 1;
    if (rc == 0 && ki >= 0 && (v < 0 || v > 16777216.0)) rc = 1;
    if (rc) {
      u->st = rc < 0
                  ? H5FAIL(u->err, CLIPPO_E_FORMAT, "%s: attribute '%s' unreadable", u->path, name)
                  : clippo_fail(u->err, CLIPPO_E_FORMAT,
                                "%s: attribute '%s' must be a non-negative integer", u->path, name);
    } else if (ki >= 0) {
      *int_field(c, ki) = (int)v;
      u->found[ki] = 1;
    } else {
      u->ck->step = (long long)v;
    }
  } else if (!strcmp(name, "ln_eps")) {
    rc = read_num_attr(aid, &v, &is_int);
    if (rc)
      u->st = rc < 0 ? H5FAIL(u->err, CLIPPO_E_FORMAT, "%s: attribute 'ln_eps' unreadable", u->path)
                     : clippo_fail(u->err, CLIPPO_E_FORMAT,
                                   "%s: attribute 'ln_eps' must be a number", u->path);
    c->ln_eps = (float)v;
    u->have_eps = 1;
  } else if (!strcmp(name, "pool") || !strcmp(name, "font")) {
    rc = read_str_attr(aid, &s);
    int pool = !strcmp(name, "pool");
    size_t cap = pool ? sizeof c->pool : sizeof c->font;
    if (rc || strlen(s) >= cap)
      u->st = rc < 0
                  ? H5FAIL(u->err, CLIPPO_E_FORMAT, "%s: attribute '%s' unreadable", u->path, name)
                  : clippo_fail(u->err, CLIPPO_E_FORMAT,
                                "%s: attribute '%s' must be a string of < %zu bytes", u->path, name,
                                cap);
    else if (pool)
      strcpy(c->pool, s), u->have_pool = 1;
    else
      strcpy(c->font, s), u->have_font = 1;
  } else {
    rc = read_str_attr(aid, &s);
    if (rc == 1 && read_num_attr(aid, &v, &is_int) == 0) { /* keep numbers as text */
      char t[64];
      if (is_int)
        snprintf(t, sizeof t, "%lld", (long long)v);
      else
        snprintf(t, sizeof t, "%.17g", v);
      s = strdup(t);
      rc = s ? 0 : -1;
    }
    if (rc < 0)
      u->st = H5FAIL(u->err, CLIPPO_E_FORMAT, "%s: attribute '%s' unreadable", u->path, name);
    else if (rc == 0)
      u->st = clippo_checkpoint_set_attr(u->ck, name, s, u->err);
    /* rc == 1: array-valued or compound attributes have no place in the record: skipped. */
  }
  free(s);
  H5Aclose(aid);
  return u->st ? -1 : 0;
}

/* ---- datasets ---- */

typedef struct ds_ud {
  const char *path;
  const char *group; /* "params" or "opt" */
  clippo_params *out;
  int to_f32;
  uint64_t file_size;
  int discard; /* read every dataset, then drop it (the guarded check pass) */
  clippo_error *err;
  clippo_status st;
  size_t visited;
} ds_ud;

/* The "dtype" string attribute of a dataset ("" when absent). */
static int dataset_dtype_attr(hid_t d, char *buf, size_t cap) {
  buf[0] = '\0';
  htri_t ex = H5Aexists(d, "dtype");
  if (ex < 0) return -1;
  if (ex == 0) return 0;
  hid_t a = H5Aopen(d, "dtype", H5P_DEFAULT);
  if (a < 0) return -1;
  char *s = NULL;
  int rc = read_str_attr(a, &s);
  H5Aclose(a);
  if (rc == 0) snprintf(buf, cap, "%s", s);
  free(s);
  return rc < 0 ? -1 : 0;
}

static clippo_status read_dataset(hid_t d, const char *name, ds_ud *u, clippo_array *out) {
  clippo_error *err = u->err;
  const char *path = u->path;
  memset(out, 0, sizeof *out);
  hid_t sp = H5Dget_space(d), ft = H5Dget_type(d);
  clippo_status st = CLIPPO_OK;
  if (sp < 0 || ft < 0) {
    st = H5FAIL(err, CLIPPO_E_FORMAT, "%s: dataset /%s/%s unreadable", path, u->group, name);
    goto done;
  }
  H5S_class_t sc = H5Sget_simple_extent_type(sp);
  int ndim = sc == H5S_SCALAR ? 0 : sc == H5S_SIMPLE ? H5Sget_simple_extent_ndims(sp) : -1;
  if (ndim < 0 || ndim > CLIPPO_MAX_DIMS) {
    st = clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                     "%s: dataset /%s/%s has an unsupported dataspace (rank %d)", path, u->group,
                     name, ndim);
    goto done;
  }
  hsize_t dims[CLIPPO_MAX_DIMS];
  int64_t shape[CLIPPO_MAX_DIMS];
  if (ndim > 0 && H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
    st = H5FAIL(err, CLIPPO_E_FORMAT, "%s: dataset /%s/%s unreadable", path, u->group, name);
    goto done;
  }
  uint64_t count = 1, nonzero = 1; /* zeros must not hide huge other dimensions */
  for (int i = 0; i < ndim; i++) {
    if (dims[i] > (hsize_t)INT64_MAX || (dims[i] && nonzero > UINT64_MAX / 16 / dims[i])) {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: dataset /%s/%s: shape overflows", path, u->group,
                       name);
      goto done;
    }
    if (dims[i]) nonzero *= dims[i];
    count *= dims[i];
    shape[i] = (int64_t)dims[i];
  }
  H5T_class_t cls = H5Tget_class(ft);
  size_t fsize = H5Tget_size(ft);
  char tag[32];
  if (dataset_dtype_attr(d, tag, sizeof tag) < 0) {
    st = H5FAIL(err, CLIPPO_E_FORMAT, "%s: dataset /%s/%s: unreadable 'dtype' attribute", path,
                u->group, name);
    goto done;
  }
  clippo_dtype dt;
  hid_t mt;
  int half_from_float = 0;
  if (cls == H5T_INTEGER && fsize == 2 && (!strcmp(tag, "bfloat16") || !strcmp(tag, "float16"))) {
    dt = !strcmp(tag, "bfloat16") ? CLIPPO_BF16 : CLIPPO_F16;
    mt = H5T_NATIVE_UINT16;
  } else if (cls == H5T_FLOAT) {
    if (fsize == 8 && !u->to_f32)
      dt = CLIPPO_F64, mt = H5T_NATIVE_DOUBLE;
    else
      dt = CLIPPO_F32, mt = H5T_NATIVE_FLOAT;
    half_from_float = fsize == 2 && !u->to_f32;
  } else if (cls == H5T_INTEGER && !u->to_f32) {
    H5T_sign_t sg = H5Tget_sign(ft);
    if (fsize == 1 && sg == H5T_SGN_NONE)
      dt = CLIPPO_U8, mt = H5T_NATIVE_UINT8;
    else if ((fsize <= 4 && sg == H5T_SGN_2) || fsize <= 2)
      dt = CLIPPO_I32, mt = H5T_NATIVE_INT32;
    else
      dt = CLIPPO_I64, mt = H5T_NATIVE_INT64;
  } else {
    st = clippo_fail(err, CLIPPO_E_SHAPE,
                     "%s: dataset /%s/%s has an unsupported type (HDF5 class %d, %zu bytes%s%s)%s",
                     path, u->group, name, (int)cls, fsize, tag[0] ? ", dtype " : "", tag,
                     u->to_f32 ? "; parameters must be floats" : "");
    goto done;
  }
  /* The shape is untrusted: the data must be stored in the file (contiguous or compact layout:
   * exactly; chunked, maybe compressed: within a plausible ratio) before anything is allocated.
   * The element size is untrusted too: the product must not wrap. */
  if (fsize == 0 || (count && count > UINT64_MAX / fsize)) {
    st = clippo_fail(err, CLIPPO_E_FORMAT,
                     "%s: dataset /%s/%s: %llu elements of %zu bytes overflow the byte count", path,
                     u->group, name, (unsigned long long)count, fsize);
    goto done;
  }
  uint64_t logical = count * fsize;
  uint64_t stored = (uint64_t)H5Dget_storage_size(d);
  hid_t dcpl = H5Dget_create_plist(d);
  H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
  if (dcpl >= 0) H5Pclose(dcpl);
  int plausible = stored <= u->file_size;
  if (layout == H5D_CHUNKED)
    plausible = plausible && logical <= stored * MAX_COMPRESSION_RATIO + (1u << 20);
  else
    plausible = plausible && layout != H5D_LAYOUT_ERROR && (logical == stored || logical == 0);
  if (!plausible) {
    char sh[256];
    st = clippo_fail(err, CLIPPO_E_FORMAT,
                     "%s: dataset /%s/%s: shape %s (%llu bytes) does not match the %llu bytes "
                     "stored for it",
                     path, u->group, name, clippo_shape_str(shape, ndim, sh, sizeof sh),
                     (unsigned long long)logical, (unsigned long long)stored);
    goto done;
  }
  if ((st = clippo_array_alloc(out, dt, ndim, shape, err))) {
    clippo_error_prefix(err, "%s: dataset /%s/%s", path, u->group, name);
    goto done;
  }
  if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->data) < 0) {
    st = H5FAIL(err, CLIPPO_E_FORMAT, "%s: cannot read dataset /%s/%s", path, u->group, name);
    goto done;
  }
  if (half_from_float) { /* keep float16 storage as float16 */
    size_t n = clippo_array_count(out);
    uint16_t *h = malloc(n ? n * 2 : 1);
    if (!h) {
      st = clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", path);
      goto done;
    }
    for (size_t i = 0; i < n; i++) h[i] = clippo_float_to_half(((float *)out->data)[i]);
    free(out->data);
    out->data = h;
    out->dtype = CLIPPO_F16;
  }
  if (u->to_f32 && (st = clippo_array_to_f32(out, err)))
    clippo_error_prefix(err, "%s: dataset /%s/%s", path, u->group, name);
done:
  if (sp >= 0) H5Sclose(sp);
  if (ft >= 0) H5Tclose(ft);
  if (st) clippo_array_free(out);
  return st;
}

static herr_t visit_cb(hid_t g, const char *name, const H5L_info_t *info, void *vud) {
  ds_ud *u = vud;
  u->visited++;
  if (info->type != H5L_TYPE_HARD) {
    u->st = clippo_fail(u->err, CLIPPO_E_UNSUPPORTED,
                        "%s: /%s/%s is a soft or external link (not supported)", u->path, u->group,
                        name);
    return -1;
  }
  hid_t o = H5Oopen(g, name, H5P_DEFAULT);
  if (o < 0) {
    u->st = H5FAIL(u->err, CLIPPO_E_FORMAT, "%s: cannot open /%s/%s", u->path, u->group, name);
    return -1;
  }
  H5I_type_t t = H5Iget_type(o);
  if (t == H5I_GROUP) {
    H5Oclose(o);
    return 0;
  }
  if (t != H5I_DATASET) {
    H5Oclose(o);
    u->st = clippo_fail(u->err, CLIPPO_E_FORMAT, "%s: /%s/%s is neither a group nor a dataset",
                        u->path, u->group, name);
    return -1;
  }
  clippo_array a;
  u->st = read_dataset(o, name, u, &a);
  H5Oclose(o);
  if (!u->st && u->discard) {
    clippo_array_free(&a);
    return 0;
  }
  if (!u->st && clippo_params_add(u->out, name, &a, u->err))
    u->st = clippo_fail(u->err, CLIPPO_E_FORMAT, "%s: duplicate dataset /%s/%s", u->path, u->group,
                        name);
  return u->st ? -1 : 0;
}

/* Reads every dataset below group gname into out (creation order when the file tracks it). */
static clippo_status read_group(hid_t file, const char *gname, ds_ud *u) {
  hid_t g = H5Gopen2(file, gname, H5P_DEFAULT);
  if (g < 0) return H5FAIL(u->err, CLIPPO_E_FORMAT, "%s: cannot open group /%s", u->path, gname);
  unsigned flags = 0;
  hid_t gcpl = H5Gget_create_plist(g);
  if (gcpl >= 0) {
    if (H5Pget_link_creation_order(gcpl, &flags) < 0) flags = 0;
    H5Pclose(gcpl);
  }
  int crt = (flags & H5P_CRT_ORDER_INDEXED) != 0;
  for (int attempt = 0; attempt < 2; attempt++) {
    u->st = CLIPPO_OK;
    u->visited = 0;
    herr_t r = H5Lvisit(g, crt ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME, H5_ITER_INC, visit_cb, u);
    if (r >= 0) break;
    if (u->st || !crt) {
      if (!u->st)
        u->st = H5FAIL(u->err, CLIPPO_E_FORMAT, "%s: cannot list group /%s", u->path, gname);
      break;
    }
    /* A nested group without a creation-order index: start over in name order. */
    clippo_params_free(u->out);
    H5Eclear2(H5E_DEFAULT);
    crt = 0;
  }
  H5Gclose(g);
  return u->st;
}

/* The load proper; discard: read and check everything but keep no arrays. */
static clippo_status h5_load_impl(const char *path, clippo_checkpoint *ck, int with_opt,
                                  int discard, const struct stat *sbp, clippo_error *err) {
  const struct stat sb = *sbp;
  memset(ck, 0, sizeof *ck);
  ck->step = -1;
  h5_silence sil;
  silence_on(&sil);
  clippo_status st = CLIPPO_OK;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), root = -1;
  if (f < 0) {
    st = H5FAIL(err, CLIPPO_E_FORMAT, "%s: cannot open as HDF5", path);
    goto done;
  }
  root = H5Gopen2(f, "/", H5P_DEFAULT);
  if (root < 0) {
    st = H5FAIL(err, CLIPPO_E_FORMAT, "%s: cannot open the root group", path);
    goto done;
  }
  clippo_config_b16(&ck->cfg);
  root_ud ru;
  memset(&ru, 0, sizeof ru);
  ru.ck = ck;
  ru.path = path;
  ru.err = err;
  if (H5Aiterate2(root, H5_INDEX_NAME, H5_ITER_INC, NULL, root_attr_cb, &ru) < 0) {
    st = ru.st ? ru.st : H5FAIL(err, CLIPPO_E_FORMAT, "%s: cannot list attributes", path);
    goto done;
  }
  int nfound = ru.have_pool;
  for (int i = 0; int_keys[i]; i++) nfound += ru.found[i];
  if (nfound > 0) {
    for (int i = 0; int_keys[i] && !st; i++)
      if (!ru.found[i])
        st = clippo_fail(err, CLIPPO_E_FORMAT,
                         "%s: the config attributes on / lack '%s' (present: some of width, "
                         "depth, heads, mlp_dim, patch, image_size, out_dim, pool)",
                         path, int_keys[i]);
    if (!st && !ru.have_pool)
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: the config attributes on / lack 'pool'", path);
    if (!st && (st = clippo_config_validate(&ck->cfg, err))) clippo_error_prefix(err, "%s", path);
    if (st) goto done;
    ck->has_cfg = 1;
  } else {
    char font[sizeof ck->cfg.font];
    memcpy(font, ck->cfg.font, sizeof font);
    clippo_config_b16(&ck->cfg); /* to be inferred; keep a font attribute if there was one */
    if (ru.have_font) memcpy(ck->cfg.font, font, sizeof font);
  }
  ds_ud u;
  memset(&u, 0, sizeof u);
  u.path = path;
  u.err = err;
  u.file_size = (uint64_t)sb.st_size;
  u.discard = discard;
  htri_t ex = H5Lexists(f, "params", H5P_DEFAULT);
  if (ex <= 0) {
    st =
        clippo_fail(err, CLIPPO_E_NOTFOUND, "%s: no /params group (not a clippo checkpoint)", path);
    goto done;
  }
  u.group = "params";
  u.out = &ck->params;
  u.to_f32 = 1;
  if ((st = read_group(f, "params", &u))) goto done;
  if (with_opt && H5Lexists(f, "opt", H5P_DEFAULT) > 0) {
    u.group = "opt";
    u.out = &ck->opt;
    u.to_f32 = 0;
    if ((st = read_group(f, "opt", &u))) goto done;
  }
done:
  if (root >= 0) H5Gclose(root);
  if (f >= 0) H5Fclose(f);
  H5Eclear2(H5E_DEFAULT);
  silence_off(&sil);
  if (st) clippo_checkpoint_free(ck);
  return st;
}

typedef struct h5_check_ctx {
  const char *path;
  int with_opt;
  const struct stat *sb;
} h5_check_ctx;

static clippo_status h5_check_child(void *vctx, clippo_error *err) {
  const h5_check_ctx *c = vctx;
  clippo_checkpoint ck;
  clippo_status st = h5_load_impl(c->path, &ck, c->with_opt, 1, c->sb, err);
  clippo_checkpoint_free(&ck);
  return st;
}

clippo_status clippo_h5_load(const char *path, clippo_checkpoint *ck, int with_opt,
                             clippo_error *err) {
  clippo_load_opts o = {0};
  o.with_opt = with_opt;
  return clippo_h5_load_opts(path, ck, &o, err);
}

clippo_status clippo_h5_load_opts(const char *path, clippo_checkpoint *ck,
                                  const clippo_load_opts *opts, clippo_error *err) {
  const clippo_load_opts none = {0};
  if (!opts) opts = &none;
  const int with_opt = opts->with_opt;
  memset(ck, 0, sizeof *ck);
  ck->step = -1;
  struct stat sb;
  if (stat(path, &sb) != 0)
    return clippo_fail(err, CLIPPO_E_IO, "%s: cannot open: %s", path, strerror(errno));
  if (!S_ISREG(sb.st_mode)) return clippo_fail(err, CLIPPO_E_IO, "%s: not a regular file", path);
  /* libhdf5 1.10 crashes on some corrupt files, or loops on them for minutes (fuzzing finds
   * both in seconds): read the whole file once in a throw-away child process, then for real
   * here. CPU limit: 20 s plus 1 s per 50 MB (a real checkpoint reads in well under 1 s of CPU
   * per 100 MB); wall-clock limit (a child blocked on a slow disk or a lock uses no CPU): 3x
   * that plus 30 s. */
  h5_check_ctx c = {path, with_opt, &sb};
  clippo_isolate_limits lim;
  lim.cpu_s = opts->h5_check_cpu_s ? opts->h5_check_cpu_s
                                   : 20u + (unsigned)((uint64_t)sb.st_size / 50000000u);
  lim.wall_s = opts->h5_check_wall_s ? opts->h5_check_wall_s : 3u * lim.cpu_s + 30u;
  int ran = 0;
  clippo_status st =
      clippo_run_isolated(h5_check_child, &c, path, "libhdf5", "reading it",
                          ": the file is corrupt or not what it claims to be", &lim, &ran, err);
  if (st) return st;
  return h5_load_impl(path, ck, with_opt, 0, &sb, err);
}

/* ---- writing ---- */

static int write_str_attr(hid_t loc, const char *name, const char *value) {
  hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR), a = -1;
  int ok = t >= 0 && s >= 0 && H5Tset_size(t, H5T_VARIABLE) >= 0 &&
           H5Tset_cset(t, H5T_CSET_UTF8) >= 0 &&
           (a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT)) >= 0 &&
           H5Awrite(a, t, &value) >= 0;
  if (a >= 0) H5Aclose(a);
  if (s >= 0) H5Sclose(s);
  if (t >= 0) H5Tclose(t);
  return ok ? 0 : -1;
}

static int write_num_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v) {
  hid_t s = H5Screate(H5S_SCALAR), a = -1;
  int ok = s >= 0 && (a = H5Acreate2(loc, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT)) >= 0 &&
           H5Awrite(a, mtype, v) >= 0;
  if (a >= 0) H5Aclose(a);
  if (s >= 0) H5Sclose(s);
  return ok ? 0 : -1;
}

/* Opens (creating as needed) the groups of name's parent path below base; returns the parent
 * group id (caller closes) and sets *leaf to the last component. */
static hid_t parent_group(hid_t base, const char *name, hid_t gcpl, const char **leaf) {
  hid_t cur = H5Gopen2(base, ".", H5P_DEFAULT);
  const char *p = name;
  char comp[1024];
  for (;;) {
    const char *slash = strchr(p, '/');
    if (!slash) break;
    size_t n = (size_t)(slash - p);
    if (cur < 0 || n == 0 || n >= sizeof comp) goto fail;
    memcpy(comp, p, n);
    comp[n] = '\0';
    htri_t ex = H5Lexists(cur, comp, H5P_DEFAULT);
    hid_t next = ex > 0    ? H5Gopen2(cur, comp, H5P_DEFAULT)
                 : ex == 0 ? H5Gcreate2(cur, comp, H5P_DEFAULT, gcpl, H5P_DEFAULT)
                           : -1;
    H5Gclose(cur);
    cur = next;
    p = slash + 1;
  }
  *leaf = p;
  return cur;
fail:
  if (cur >= 0) H5Gclose(cur);
  return -1;
}

static int valid_name(const char *name) {
  if (!*name || name[0] == '/' || name[strlen(name) - 1] == '/' || strstr(name, "//")) return 0;
  for (const char *p = name; *p;) { /* no "." or ".." components */
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return 0;
    p += n + (e ? 1 : 0);
  }
  return 1;
}

static clippo_status write_group(hid_t f, const char *gname, const clippo_params *p, int f32_only,
                                 hid_t gcpl, const char *path, clippo_error *err) {
  hid_t g = H5Gcreate2(f, gname, H5P_DEFAULT, gcpl, H5P_DEFAULT);
  if (g < 0) return H5FAIL(err, CLIPPO_E_IO, "%s: cannot create group /%s", path, gname);
  clippo_status st = CLIPPO_OK;
  for (size_t i = 0; i < p->count && !st; i++) {
    const clippo_param *it = &p->items[i];
    const clippo_array *a = &it->value;
    if (!valid_name(it->name)) {
      st = clippo_fail(err, CLIPPO_E_ARG, "%s: invalid array name '%s'", path, it->name);
      break;
    }
    if (f32_only && a->dtype != CLIPPO_F32) {
      st = clippo_fail(err, CLIPPO_E_SHAPE, "%s: parameter '%s' is %s, not float32", path, it->name,
                       clippo_dtype_name(a->dtype));
      break;
    }
    hid_t ftype, mtype;
    const char *tag = NULL;
    switch (a->dtype) {
    case CLIPPO_F32: ftype = H5T_IEEE_F32LE, mtype = H5T_NATIVE_FLOAT; break;
    case CLIPPO_F64: ftype = H5T_IEEE_F64LE, mtype = H5T_NATIVE_DOUBLE; break;
    case CLIPPO_F16: ftype = H5T_STD_U16LE, mtype = H5T_NATIVE_UINT16, tag = "float16"; break;
    case CLIPPO_BF16: ftype = H5T_STD_U16LE, mtype = H5T_NATIVE_UINT16, tag = "bfloat16"; break;
    case CLIPPO_U8: ftype = H5T_STD_U8LE, mtype = H5T_NATIVE_UINT8; break;
    case CLIPPO_I32: ftype = H5T_STD_I32LE, mtype = H5T_NATIVE_INT32; break;
    case CLIPPO_I64: ftype = H5T_STD_I64LE, mtype = H5T_NATIVE_INT64; break;
    default:
      st = clippo_fail(err, CLIPPO_E_ARG, "%s: '%s' has an unknown dtype", path, it->name);
      continue;
    }
    hsize_t dims[CLIPPO_MAX_DIMS];
    for (int k = 0; k < a->ndim; k++) dims[k] = (hsize_t)a->shape[k];
    const char *leaf = NULL;
    hid_t parent = parent_group(g, it->name, gcpl, &leaf);
    hid_t sp = a->ndim ? H5Screate_simple(a->ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = -1;
    int ok =
        parent >= 0 && sp >= 0 &&
        (d = H5Dcreate2(parent, leaf, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) >= 0 &&
        (clippo_array_count(a) == 0 ||
         H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, a->data) >= 0) &&
        (!tag || write_str_attr(d, "dtype", tag) == 0);
    if (d >= 0) H5Dclose(d);
    if (sp >= 0) H5Sclose(sp);
    if (parent >= 0) H5Gclose(parent);
    if (!ok)
      st = H5FAIL(err, CLIPPO_E_IO, "%s: cannot write dataset /%s/%s", path, gname, it->name);
  }
  H5Gclose(g);
  return st;
}

/* Writes ck into the file tmp (which stands for path in messages). */
static clippo_status h5_write_file(const char *tmp, const char *path, const clippo_checkpoint *ck,
                                   clippo_error *err) {
  clippo_status st = CLIPPO_OK;
  h5_silence sil;
  silence_on(&sil);
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), gcpl = H5Pcreate(H5P_GROUP_CREATE), f = -1;
  if (fapl < 0 || gcpl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
      H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0) {
    st = H5FAIL(err, CLIPPO_E_IO, "%s: HDF5 property lists", path);
    goto done;
  }
  f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (f < 0) {
    st = H5FAIL(err, CLIPPO_E_IO, "%s: cannot create %s", path, tmp);
    goto done;
  }
  const clippo_config *c = &ck->cfg;
  int bad = 0;
  for (int i = 0; int_keys[i]; i++) {
    long long v = *int_field((clippo_config *)c, i);
    bad |= write_num_attr(f, int_keys[i], H5T_STD_I64LE, H5T_NATIVE_LLONG, &v);
  }
  double eps = c->ln_eps; /* the shortest decimal that gives the float back: 1e-6, not 9.99e-7 */
  for (int prec = 1; prec <= 9; prec++) {
    char t[32];
    snprintf(t, sizeof t, "%.*g", prec, (double)c->ln_eps);
    if ((float)strtod(t, NULL) == c->ln_eps) {
      eps = strtod(t, NULL);
      break;
    }
  }
  bad |= write_num_attr(f, "ln_eps", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &eps);
  bad |= write_str_attr(f, "pool", c->pool);
  bad |= write_str_attr(f, "font", c->font);
  if (ck->step >= 0) {
    long long s = ck->step;
    bad |= write_num_attr(f, "step", H5T_STD_I64LE, H5T_NATIVE_LLONG, &s);
  }
  for (size_t i = 0; i < ck->nattrs && !bad; i++)
    bad |= write_str_attr(f, ck->attrs[i].key, ck->attrs[i].value);
  if (bad) {
    st = H5FAIL(err, CLIPPO_E_IO, "%s: cannot write attributes", path);
    goto done;
  }
  if ((st = write_group(f, "params", &ck->params, 1, gcpl, path, err))) goto done;
  if (ck->opt.count && (st = write_group(f, "opt", &ck->opt, 0, gcpl, path, err))) goto done;
  if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) {
    st = H5FAIL(err, CLIPPO_E_IO, "%s: flush failed", path);
    goto done;
  }
  herr_t cr = H5Fclose(f);
  f = -1;
  if (cr < 0) st = H5FAIL(err, CLIPPO_E_IO, "%s: closing the file failed", path);
done:
  if (f >= 0) H5Fclose(f);
  if (fapl >= 0) H5Pclose(fapl);
  if (gcpl >= 0) H5Pclose(gcpl);
  H5Eclear2(H5E_DEFAULT);
  silence_off(&sil);
  return st;
}

/* Bytes of every array of ck. */
static uint64_t ckpt_bytes(const clippo_checkpoint *ck) {
  uint64_t n = 0;
  const clippo_params *g[2] = {&ck->params, &ck->opt};
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; i < g[k]->count; i++) {
      const clippo_array *a = &g[k]->items[i].value;
      n += (uint64_t)clippo_array_count(a) * clippo_dtype_size(a->dtype);
    }
  return n;
}

typedef struct h5_write_ctx {
  const char *tmp, *path;
  const clippo_checkpoint *ck;
} h5_write_ctx;

static clippo_status h5_write_child(void *vctx, clippo_error *err) {
  const h5_write_ctx *c = vctx;
  return h5_write_file(c->tmp, c->path, c->ck, err);
}

clippo_status clippo_h5_save(const char *path, const clippo_checkpoint *ck, clippo_error *err) {
  clippo_status st = clippo_config_validate(&ck->cfg, err);
  if (st) return clippo_error_prefix(err, "%s", path);
  for (size_t i = 0; i < ck->nattrs; i++)
    if (is_reserved(ck->attrs[i].key))
      return clippo_fail(err, CLIPPO_E_ARG, "%s: attribute name '%s' is reserved", path,
                         ck->attrs[i].key);
  char *tmp = NULL;
  if ((st = clippo_atomic_tmpname(path, &tmp, err))) return st;
  /* libhdf5 1.10 keeps a file whose close failed (full disk) half-open and crashes on it at
   * exit: write from a throw-away child process; in-process only when no child can be made. */
  h5_write_ctx c = {tmp, path, ck};
  int ran = 0;
  /* no CPU limit (compression of a large file); a wall-clock one so that a child blocked for
   * good cannot hang the caller: 2 min plus 1 s per 10 MB (a disk slower than that is not) */
  clippo_isolate_limits lim = {0, 120u + (unsigned)(ckpt_bytes(ck) / 10000000u)};
  st = clippo_run_isolated(h5_write_child, &c, path, "libhdf5", "writing it", "", &lim, &ran, err);
  if (!ran) st = h5_write_file(tmp, path, ck, err);
  if (st)
    remove(tmp);
  else
    st = clippo_atomic_publish(tmp, path, err);
  free(tmp);
  return st;
}
