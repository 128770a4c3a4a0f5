/* HDF5 helpers for the prompt cache and the index. Callers silence HDF5's own error printing
 * (H5E_BEGIN_TRY) and report through clippo_error. */
#include <stdlib.h>
#include <string.h>

#include "tasks/tasks_h5.h"

clippo_status h5_set_str(hid_t obj, const char *name, const char *value, const char *file,
                         clippo_error *err) {
  size_t len = strlen(value);
  hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a = -1;
  herr_t rc = -1;
  if (t >= 0 && sp >= 0 && H5Tset_size(t, len ? len : 1) >= 0 &&
      H5Tset_strpad(t, H5T_STR_NULLPAD) >= 0) {
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    char one = '\0';
    if (a >= 0) rc = H5Awrite(a, t, len ? value : &one);
  }
  if (a >= 0) H5Aclose(a);
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  if (rc < 0) return clippo_fail(err, CLIPPO_E_IO, "%s: cannot write attribute '%s'", file, name);
  return CLIPPO_OK;
}

clippo_status h5_get_str(hid_t obj, const char *name, char **out, const char *file,
                         clippo_error *err) {
  *out = NULL;
  if (H5Aexists(obj, name) <= 0)
    return clippo_fail(err, CLIPPO_E_NOTFOUND, "%s: attribute '%s' is missing", file, name);
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t ft = a >= 0 ? H5Aget_type(a) : -1;
  clippo_status st = CLIPPO_OK;
  if (ft < 0 || H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) > 0) {
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: attribute '%s' is not a fixed-length string", file,
                     name);
  } else {
    size_t len = H5Tget_size(ft);
    hid_t mt = H5Tcopy(H5T_C_S1);
    char *s = len < ((size_t)1 << 24) ? calloc(len + 1, 1) : NULL;
    if (!s || mt < 0 || H5Tset_size(mt, len) < 0 || H5Tset_strpad(mt, H5T_STR_NULLPAD) < 0 ||
        H5Aread(a, mt, s) < 0) {
      free(s);
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: cannot read attribute '%s'", file, name);
    } else {
      *out = s;
    }
    if (mt >= 0) H5Tclose(mt);
  }
  if (ft >= 0) H5Tclose(ft);
  if (a >= 0) H5Aclose(a);
  return st;
}

clippo_status h5_set_i64(hid_t obj, const char *name, int64_t value, const char *file,
                         clippo_error *err) {
  hid_t sp = H5Screate(H5S_SCALAR), a = -1;
  herr_t rc = -1;
  if (sp >= 0) {
    if (H5Aexists(obj, name) > 0) {
      a = H5Aopen(obj, name, H5P_DEFAULT);
    } else {
      a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    }
    if (a >= 0) rc = H5Awrite(a, H5T_NATIVE_INT64, &value);
  }
  if (a >= 0) H5Aclose(a);
  if (sp >= 0) H5Sclose(sp);
  if (rc < 0) return clippo_fail(err, CLIPPO_E_IO, "%s: cannot write attribute '%s'", file, name);
  return CLIPPO_OK;
}

clippo_status h5_get_i64(hid_t obj, const char *name, int64_t *value, const char *file,
                         clippo_error *err) {
  if (H5Aexists(obj, name) <= 0)
    return clippo_fail(err, CLIPPO_E_NOTFOUND, "%s: attribute '%s' is missing", file, name);
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t ft = a >= 0 ? H5Aget_type(a) : -1;
  hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
  herr_t rc = -1;
  if (ft >= 0 && H5Tget_class(ft) == H5T_INTEGER && sp >= 0 &&
      H5Sget_simple_extent_npoints(sp) == 1)
    rc = H5Aread(a, H5T_NATIVE_INT64, value);
  if (sp >= 0) H5Sclose(sp);
  if (ft >= 0) H5Tclose(ft);
  if (a >= 0) H5Aclose(a);
  if (rc < 0)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: attribute '%s' is not an integer", file, name);
  return CLIPPO_OK;
}

clippo_status h5_create_ext(hid_t loc, const char *name, hid_t type, size_t cols, size_t chunk_rows,
                            const char *file, clippo_error *err) {
  int rank = cols ? 2 : 1;
  hsize_t dims[2] = {0, cols}, maxd[2] = {H5S_UNLIMITED, cols}, chunk[2] = {chunk_rows, cols};
  hid_t sp = H5Screate_simple(rank, dims, maxd);
  hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
  hid_t d = -1;
  if (sp >= 0 && pl >= 0 && H5Pset_chunk(pl, rank, chunk) >= 0)
    d = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
  if (d >= 0) H5Dclose(d);
  if (pl >= 0) H5Pclose(pl);
  if (sp >= 0) H5Sclose(sp);
  if (d < 0) return clippo_fail(err, CLIPPO_E_IO, "%s: cannot create dataset '%s'", file, name);
  return CLIPPO_OK;
}

clippo_status h5_append(hid_t loc, const char *name, hid_t memtype, size_t have, size_t n,
                        size_t cols, const void *data, const char *file, clippo_error *err) {
  if (n == 0) return CLIPPO_OK;
  int rank = cols ? 2 : 1;
  hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
  hsize_t size[2] = {have + n, cols}, start[2] = {have, 0}, count[2] = {n, cols};
  hid_t fs = -1, ms = -1;
  herr_t rc = -1;
  if (d >= 0 && H5Dset_extent(d, size) >= 0) {
    fs = H5Dget_space(d);
    ms = H5Screate_simple(rank, count, NULL);
    if (fs >= 0 && ms >= 0 &&
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
      rc = H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, data);
  }
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  if (d >= 0) H5Dclose(d);
  if (rc < 0) return clippo_fail(err, CLIPPO_E_IO, "%s: cannot append to dataset '%s'", file, name);
  return CLIPPO_OK;
}

int64_t h5_rows(hid_t loc, const char *name) {
  if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return -1;
  hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
  if (d < 0) return -1;
  hid_t sp = H5Dget_space(d);
  hsize_t dims[2] = {0, 0};
  int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
  int64_t rows = -1;
  if (rank >= 1 && rank <= 2 && H5Sget_simple_extent_dims(sp, dims, NULL) >= 0)
    rows = (int64_t)dims[0];
  if (sp >= 0) H5Sclose(sp);
  H5Dclose(d);
  return rows;
}

clippo_status h5_read_rows(hid_t loc, const char *name, hid_t memtype, size_t n, size_t cols,
                           void *data, const char *file, clippo_error *err) {
  if (H5Lexists(loc, name, H5P_DEFAULT) <= 0)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: dataset '%s' is missing", file, name);
  hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
  hid_t fs = d >= 0 ? H5Dget_space(d) : -1;
  int want_rank = cols ? 2 : 1;
  hsize_t dims[2] = {0, 0};
  clippo_status st = CLIPPO_OK;
  if (fs < 0 || H5Sget_simple_extent_ndims(fs) != want_rank ||
      H5Sget_simple_extent_dims(fs, dims, NULL) < 0 || dims[0] < n || (cols && dims[1] != cols)) {
    st = clippo_fail(err, CLIPPO_E_FORMAT,
                     "%s: dataset '%s' has the wrong shape (want at least %zu rows%s)", file, name,
                     n, cols ? " of the model's embedding size" : "");
  } else if (n > 0) {
    hsize_t start[2] = {0, 0}, count[2] = {n, cols};
    hid_t ms = H5Screate_simple(want_rank, count, NULL);
    herr_t rc = -1;
    if (ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
      rc = H5Dread(d, memtype, ms, fs, H5P_DEFAULT, data);
    if (ms >= 0) H5Sclose(ms);
    if (rc < 0) st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: cannot read dataset '%s'", file, name);
  }
  if (fs >= 0) H5Sclose(fs);
  if (d >= 0) H5Dclose(d);
  return st;
}
