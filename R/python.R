# Connection to the Python package 'medflow' through reticulate.
#
# The module is imported lazily (`delay_load = TRUE`): loading the R package
# neither starts Python nor installs anything. Every wrapper reaches the module
# through medflow_module(), which gives one clear message when Python or the
# module is missing.

# Holds the Python module: a delay-loaded reticulate proxy set in .onLoad().
.py <- new.env(parent = emptyenv())

.onLoad <- function(libname, pkgname) {
  declare_python_requirements()
  # If Python is already running (another package started it), reticulate
  # imports at once even with delay_load = TRUE; a Python without medflow
  # must not stop the package from loading, so the error is kept for later.
  .py$medflow <- tryCatch(
    reticulate::import("medflow", delay_load = TRUE, convert = FALSE),
    error = function(e) NULL
  )
}

# TRUE when the installed reticulate has py_require() (reticulate >= 1.41).
has_py_require <- function() {
  utils::packageVersion("reticulate") >= "1.41" &&
    exists("py_require", envir = asNamespace("reticulate"), inherits = FALSE)
}

# With reticulate >= 1.41, declare the Python requirements; this only records
# them (reticulate resolves them when Python first starts) and installs nothing
# now. Skipped when the user chose a Python through RETICULATE_PYTHON.
declare_python_requirements <- function() {
  if (!has_py_require() || nzchar(Sys.getenv("RETICULATE_PYTHON"))) {
    return(invisible(FALSE))
  }
  py_require <- getExportedValue("reticulate", "py_require")
  try(py_require(packages = c("medflow", "torch==2.13.0")), silent = TRUE)
  invisible(TRUE)
}

#' Is the Python side of medflow available?
#'
#' Checks (and, on first call, starts) the Python that reticulate uses and
#' looks for the Python module `medflow` in it.
#'
#' @return `TRUE` or `FALSE`.
#' @seealso [install_medflow()], [use_medflow_python()]
#' @examples
#' medflow_available()
#' @export
medflow_available <- function() {
  isTRUE(tryCatch(reticulate::py_module_available("medflow"), error = function(e) FALSE))
}

# The message given when the Python module cannot be used.
missing_python_message <- function() {
  cfg <- tryCatch(reticulate::py_discover_config(), error = function(e) NULL)
  where <- if (reticulate::py_available(initialize = FALSE)) {
    sprintf("the Python at %s", reticulate::py_config()$python)
  } else if (!is.null(cfg) && !is.null(cfg$python)) {
    sprintf("the Python at %s", cfg$python)
  } else {
    "any Python found by reticulate"
  }
  paste0(
    "The Python package 'medflow' is not available in ", where, ". ",
    "Run medflow::install_medflow() to create a Python environment with it and restart R, ",
    "or point R to a Python that has it with medflow::use_medflow_python(\"/path/to/python\") ",
    "(or the RETICULATE_PYTHON environment variable) before using medflow."
  )
}

# The Python module, or one clear error when it cannot be used.
medflow_module <- function() {
  if (!medflow_available()) {
    stop(missing_python_message(), call. = FALSE)
  }
  if (is.null(.py$medflow)) {
    .py$medflow <- reticulate::import("medflow", convert = FALSE)
  }
  .py$medflow
}

#' Use a given Python for medflow
#'
#' Tells reticulate which Python interpreter to use. Call it before anything
#' else starts Python in the session (otherwise restart R first). Setting the
#' environment variable `RETICULATE_PYTHON` does the same for every session.
#'
#' @param path Path to a Python executable, or to a virtual environment
#'   (a directory with `bin/python`).
#' @return `TRUE` (invisibly) if the Python module `medflow` can be imported
#'   from it, otherwise `FALSE` with a warning.
#' @seealso [install_medflow()], [medflow_available()]
#' @examples
#' \dontrun{
#' use_medflow_python("~/.virtualenvs/r-medflow/bin/python")
#' }
#' @export
use_medflow_python <- function(path) {
  if (!is.character(path) || length(path) != 1L || is.na(path) || !nzchar(path)) {
    stop("path = must be one path to a Python executable or a virtual environment.", call. = FALSE)
  }
  path <- path.expand(path)
  if (dir.exists(path)) {
    exe <- file.path(path, if (.Platform$OS.type == "windows") "Scripts/python.exe" else "bin/python")
    if (!file.exists(exe)) {
      stop(sprintf("path = '%s' is a directory without a Python executable (%s).", path, exe),
           call. = FALSE)
    }
    path <- exe
  }
  if (!file.exists(path)) {
    stop(sprintf("path = '%s' does not exist.", path), call. = FALSE)
  }
  if (reticulate::py_available(initialize = FALSE)) {
    current <- normalizePath(reticulate::py_config()$python, mustWork = FALSE)
    if (!identical(current, normalizePath(path, mustWork = FALSE))) {
      stop(sprintf(paste0(
        "Python is already running in this session (%s); restart R and call ",
        "use_medflow_python() before anything else uses Python."), current), call. = FALSE)
    }
  }
  reticulate::use_python(path, required = TRUE)
  ok <- medflow_available()
  if (!ok) {
    warning(sprintf(paste0(
      "The Python at %s does not have the package 'medflow'; install it there ",
      "(pip install medflow) or run medflow::install_medflow()."), path), call. = FALSE)
  }
  invisible(ok)
}

#' Install the Python side of medflow
#'
#' Creates a Python virtual environment and installs PyTorch and the Python
#' package `medflow` into it with pip: PyTorch first (`torch =`), then medflow
#' from a local source directory (`path =`) or from the package index.
#' Nothing is installed when the R package loads; this function is the only
#' place that installs anything.
#'
#' @param envname Name of (or path to) the virtual environment to create.
#' @param path Optional local path to the medflow Python sources (the
#'   directory holding `pyproject.toml`); `NULL` installs from the package
#'   index.
#' @param python Optional Python executable used to create the environment.
#' @param torch The pip requirement for PyTorch, installed first.
#' @return The path to the environment's Python executable, invisibly.
#' @seealso [use_medflow_python()]
#' @examples
#' \dontrun{
#' install_medflow()                                     # from the package index
#' install_medflow(path = "~/src/medflow")               # from a source checkout
#' use_medflow_python(reticulate::virtualenv_python("r-medflow"))
#' }
#' @export
install_medflow <- function(envname = "r-medflow", path = NULL, python = NULL,
                            torch = "torch==2.13.0") {
  if (!is.character(envname) || length(envname) != 1L || is.na(envname) || !nzchar(envname)) {
    stop("envname = must be the name of a virtual environment, e.g. \"r-medflow\".", call. = FALSE)
  }
  if (!is.null(path)) {
    if (!is.character(path) || length(path) != 1L || !dir.exists(path)) {
      stop("path = must be an existing directory with the medflow Python sources.", call. = FALSE)
    }
    if (!file.exists(file.path(path, "pyproject.toml"))) {
      stop(sprintf("path = '%s' has no pyproject.toml; give the directory of the Python sources.",
                   path), call. = FALSE)
    }
    package <- normalizePath(path)
  } else {
    package <- "medflow"
  }
  if (!is.character(torch) || length(torch) != 1L || !nzchar(torch)) {
    stop("torch = must be one pip requirement, e.g. \"torch==2.13.0\".", call. = FALSE)
  }
  reticulate::virtualenv_create(envname = envname, python = python)
  reticulate::virtualenv_install(envname = envname, packages = torch)
  reticulate::virtualenv_install(envname = envname, packages = package)
  exe <- reticulate::virtualenv_python(envname)
  message(sprintf(paste0(
    "Installed medflow into '%s'. Restart R and call medflow::use_medflow_python(\"%s\") ",
    "(or set RETICULATE_PYTHON=%s)."), envname, exe, exe))
  invisible(exe)
}

# Run Python-calling code and turn a Python exception into one plain R error
# (the Python message without the reticulate call or traceback hints).
py_try <- function(expr) {
  tryCatch(expr, error = function(e) {
    msg <- conditionMessage(e)
    msg <- sub("\\s*Run `reticulate::py_last_error\\(\\)` for details\\.?\\s*$", "", msg)
    msg <- sub("^(ValueError|KeyError|TypeError|RuntimeError): ", "", trimws(msg))
    stop(msg, call. = FALSE)
  })
}

# Is this a Python object whose pointer no longer lives (e.g. after readRDS)?
py_dead <- function(x) {
  is.null(x) || !inherits(x, "python.builtin.object") || reticulate::py_is_null_xptr(x)
}
