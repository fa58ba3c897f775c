# Conversions between R and Python objects. Arguments always go to Python by
# name, and everything coming back is turned into plain R objects.

# Conversions avoid NumPy's C interface on purpose: reticulate < 1.36 cannot
# talk to NumPy 2, so values cross as Python lists and floats, and results
# come back through DataFrame.to_dict() / tolist() (plain Python values).

# An R data.frame (the model columns only) as a pandas DataFrame. Columns go
# over as doubles (an integer NA would not survive the conversion).
r_frame_to_py <- function(data, vars = names(data)) {
  data <- as.data.frame(data)[vars]
  pd <- reticulate::import("pandas", convert = FALSE)
  cols <- lapply(data, function(v) reticulate::r_to_py(as.list(as.double(v))))
  pd$DataFrame(data = reticulate::py_dict(keys = as.list(names(data)), values = unname(cols)),
               columns = py_list(names(data)))
}

# A numeric R matrix with dimnames as a pandas DataFrame (rows = index).
r_matrix_to_py <- function(m) {
  pd <- reticulate::import("pandas", convert = FALSE)
  rows <- lapply(seq_len(nrow(m)), function(i) as.list(as.double(m[i, ])))
  pd$DataFrame(data = reticulate::r_to_py(rows), index = py_list(rownames(m)),
               columns = py_list(colnames(m)))
}

# A pandas DataFrame as a plain R data.frame (the index is kept as a first
# column only when `index` names it).
py_frame_to_r <- function(x, index = NULL) {
  if (!is.null(index)) {
    x <- x$reset_index(names = index)
  }
  cols <- reticulate::py_to_r(x$columns$tolist())
  values <- reticulate::py_to_r(x$to_dict(orient = "list"))
  n <- reticulate::py_len(x)
  out <- lapply(as.character(cols), function(nm) as_atomic_column(values[[nm]], n))
  names(out) <- as.character(cols)
  as.data.frame(out, stringsAsFactors = FALSE, check.names = FALSE, optional = TRUE)
}

# A column from to_dict(): an atomic vector, or a list with NULL for None.
as_atomic_column <- function(v, n) {
  if (is.null(v)) return(rep(NA, n))
  if (is.list(v)) {
    v <- lapply(v, function(e) if (is.null(e) || length(e) != 1L) NA else e)
    v <- unlist(v, use.names = FALSE)
  }
  if (is.numeric(v)) v[is.nan(v)] <- NA
  as.vector(v)
}

# A character vector as a Python list (a length-one vector would otherwise
# become a Python string).
py_list <- function(x) {
  if (is.null(x)) return(NULL)
  reticulate::r_to_py(as.list(x))
}

# Named arguments for a Python call, without the NULL ones (Python defaults apply).
py_args <- function(...) {
  args <- list(...)
  args[!vapply(args, is.null, logical(1))]
}

# Call a method of a Python object with named arguments only.
py_call_named <- function(object, method, args) {
  fun <- object[[method]]
  if (length(args) && (is.null(names(args)) || any(!nzchar(names(args))))) {
    stop("internal error: Python arguments must be named.", call. = FALSE)
  }
  py_try(do.call(fun, args))
}

# Python object -> R value (for scalars and simple containers).
py_value <- function(x) reticulate::py_to_r(x)
