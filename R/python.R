# Connection to the Python package 'medflow' through reticulate.
#
# The module is imported lazily (`delay_load = TRUE`): loading the R package
# neither starts Python nor installs anything. Every wrapper reaches the module
# through medflow_module(), which gives one clear message when Python or the
# module is missing.

# Holds the Python module: a delay-loaded reticulate proxy set in .onLoad().
.py <- new.env(parent = emptyenv())

.onLoad <- function(libname, pkgname) {
  # No Python requirement is declared to reticulate: the Python package
  # medflow is not on the package index; install_medflow() installs it from the
  # sources this R package carries. The environment it creates is used when the
  # user named no Python.
  use_default_env()
  # If Python is already running (another package started it), reticulate
  # imports at once even with delay_load = TRUE; a Python without medflow
  # must not stop the package from loading, so the error is kept for later.
  .py$medflow <- tryCatch(
    reticulate::import("medflow", delay_load = TRUE, convert = FALSE),
    error = function(e) NULL
  )
}

# The virtual environment install_medflow() creates by default.
default_envname <- "r-medflow"

# Point reticulate at install_medflow()'s environment when it exists, the user
# chose no Python (RETICULATE_PYTHON) and Python is not running yet. Only a
# hint (required = FALSE): use_python() and RETICULATE_PYTHON still win.
use_default_env <- function(envname = default_envname) {
  if (nzchar(Sys.getenv("RETICULATE_PYTHON")) || reticulate::py_available(initialize = FALSE)) {
    return(invisible(FALSE))
  }
  exists <- tryCatch(reticulate::virtualenv_exists(envname), error = function(e) FALSE)
  if (!isTRUE(exists)) return(invisible(FALSE))
  try(reticulate::use_virtualenv(envname, required = FALSE), silent = TRUE)
  invisible(TRUE)
}

# The Python sources carried by the installed R package (inst/python, built from
# the repository's python/ and pyproject.toml), or "" when there are none.
bundled_python_dir <- function() {
  dir <- system.file("python", package = "medflow")
  if (nzchar(dir) && file.exists(file.path(dir, "pyproject.toml"))) dir else ""
}

# The version written in a pyproject.toml, or NA.
pyproject_version <- function(dir) {
  lines <- readLines(file.path(dir, "pyproject.toml"), warn = FALSE)
  hit <- grep("^version\\s*=", lines, value = TRUE)
  if (!length(hit)) return(NA_character_)
  gsub("^version\\s*=\\s*[\"']|[\"'].*$", "", hit[1])
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
  if (is.null(.py$version_checked)) {
    .py$version_checked <- TRUE
    py_version <- tryCatch(as.character(reticulate::py_to_r(.py$medflow$`__version__`)),
                           error = function(e) NA_character_)
    msg <- version_mismatch_message(py_version, as.character(utils::packageVersion("medflow")))
    if (!is.null(msg)) warning(msg, call. = FALSE)
  }
  .py$medflow
}

# A warning when the Python package and the R package differ in version.
version_mismatch_message <- function(py_version, r_version) {
  if (is.na(py_version) || identical(py_version, r_version)) return(NULL)
  sprintf(paste0(
    "The Python package medflow is version %s but the R package is version %s; run ",
    "medflow::install_medflow() to install the matching Python sources and restart R."),
    py_version, r_version)
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
    current <- reticulate::py_config()$python
    if (!same_python_path(current, path)) {
      stop(sprintf(paste0(
        "Python is already running in this session (%s), so R cannot switch to %s; restart R ",
        "and call use_medflow_python() before anything else uses Python."), current, path),
        call. = FALSE)
    }
  }
  reticulate::use_python(path, required = TRUE)
  ok <- medflow_available()
  if (!ok) {
    warning(sprintf(paste0(
      "The Python at %s does not have the package 'medflow'; run medflow::install_medflow() ",
      "to create an environment with it, or install it into that Python from the sources this ",
      "R package carries (pip install \"%s\")."), path, bundled_python_dir()), call. = FALSE)
  }
  invisible(ok)
}

# Do two paths name the same Python executable? The folders are compared after
# normalizePath(), the file names as they are: a virtual environment's
# bin/python is a symbolic link to the base interpreter, and resolving it would
# make every environment built on that interpreter look like the same Python.
same_python_path <- function(a, b) {
  norm <- function(p) {
    p <- path.expand(p)
    file.path(normalizePath(dirname(p), winslash = "/", mustWork = FALSE), basename(p))
  }
  identical(norm(a), norm(b))
}

#' Install the Python side of medflow
#'
#' Creates a Python virtual environment and installs PyTorch and the Python
#' package `medflow` into it with pip: PyTorch first (`torch =`), then medflow.
#' By default medflow is installed from the Python sources this R package
#' carries (built from the same repository, so the versions match); nothing
#' of medflow is downloaded. `path =` installs from another source directory
#' and `from_index = TRUE` from the package index instead. PyTorch and
#' medflow's other dependencies come from the package index (or wherever pip
#' is configured to look). Nothing is installed when the R package loads;
#' this function is the only place that installs anything.
#'
#' When the environment has the default name (`"r-medflow"`) and
#' `RETICULATE_PYTHON` is not set, medflow uses it in every new R session.
#'
#' @param envname Name of (or path to) the virtual environment to create.
#' @param path Optional directory with other medflow Python sources (the
#'   directory holding `pyproject.toml`, e.g. a clone of the repository);
#'   `NULL` uses the sources carried by this R package.
#' @param python Optional Python executable used to create the environment.
#'   Only used when the environment does not exist yet.
#' @param torch The pip requirement for PyTorch, installed first.
#' @param from_index `TRUE` installs medflow from the package index at this R
#'   package's version instead of from local sources.
#' @return The path to the environment's Python executable, invisibly.
#' @seealso [use_medflow_python()], [medflow_available()]
#' @examples
#' \dontrun{
#' install_medflow()                                     # from the bundled sources
#' install_medflow(path = "~/src/medflow")               # from a source checkout
#' }
#' @export
install_medflow <- function(envname = "r-medflow", path = NULL, python = NULL,
                            torch = "torch==2.13.0", from_index = FALSE) {
  if (!is.character(envname) || length(envname) != 1L || is.na(envname) || !nzchar(envname)) {
    stop("envname = must be the name of a virtual environment, e.g. \"r-medflow\".", call. = FALSE)
  }
  if (!is.character(torch) || length(torch) != 1L || is.na(torch) || !nzchar(torch)) {
    stop("torch = must be one pip requirement, e.g. \"torch==2.13.0\".", call. = FALSE)
  }
  if (!is.logical(from_index) || length(from_index) != 1L || is.na(from_index)) {
    stop("from_index = must be TRUE or FALSE.", call. = FALSE)
  }
  if (!is.null(python) && (!is.character(python) || length(python) != 1L || is.na(python) ||
                           !file.exists(path.expand(python)))) {
    stop("python = must be the path to an existing Python executable.", call. = FALSE)
  }
  if (!is.null(python)) check_env_python(envname, python)
  r_version <- as.character(utils::packageVersion("medflow"))
  if (from_index) {
    if (!is.null(path)) {
      stop("Give either path = (local sources) or from_index = TRUE, not both.", call. = FALSE)
    }
    package <- sprintf("medflow==%s", r_version)
  } else {
    source <- python_sources(path, r_version)
    # pip builds in the source directory; the R library may be read-only.
    build_dir <- tempfile("medflow-python-")
    dir.create(build_dir)
    on.exit(unlink(build_dir, recursive = TRUE), add = TRUE)
    file.copy(list.files(source, full.names = TRUE, all.files = TRUE, no.. = TRUE), build_dir,
              recursive = TRUE)
    package <- build_dir
  }
  # pip runs in child processes of R, which inherit the library path R set
  # for itself; a Python with its own libpython (pyenv, conda) would load the
  # system's instead and fail to import ssl. pip gets the user's library path.
  old_ld <- Sys.getenv("LD_LIBRARY_PATH", unset = NA)
  Sys.setenv(LD_LIBRARY_PATH = user_library_path())
  on.exit(if (is.na(old_ld)) Sys.unsetenv("LD_LIBRARY_PATH") else Sys.setenv(LD_LIBRARY_PATH = old_ld),
          add = TRUE)
  reticulate::virtualenv_create(envname = envname, python = python)
  reticulate::virtualenv_install(envname = envname, packages = torch)
  reticulate::virtualenv_install(envname = envname, packages = package)
  exe <- reticulate::virtualenv_python(envname)
  installed <- tryCatch(
    system2(exe, c("-c", shQuote("import medflow; print(medflow.__version__)")), stdout = TRUE,
            stderr = FALSE),
    error = function(e) character(), warning = function(w) character())
  if (!length(installed)) {
    stop(sprintf("The environment '%s' was created, but 'import medflow' fails in %s.", envname, exe),
         call. = FALSE)
  }
  if (!from_index && is.null(path) && !identical(installed[1], r_version)) {
    stop(sprintf("The environment '%s' has medflow %s, but this R package is version %s.",
                 envname, installed[1], r_version), call. = FALSE)
  }
  how <- if (identical(envname, default_envname)) {
    "Restart R: medflow uses this environment unless RETICULATE_PYTHON names another Python."
  } else {
    sprintf("Restart R and call medflow::use_medflow_python(\"%s\") (or set RETICULATE_PYTHON=%s).",
            exe, exe)
  }
  message(sprintf("Installed medflow %s into '%s'. %s", installed[1], envname, how))
  invisible(exe)
}

# LD_LIBRARY_PATH without what R's start-up script (etc/ldpaths) puts in front
# of it: R's own lib folder and the system's library folders (which the loader
# searches anyway, but after a program's own RUNPATH, not before it).
user_library_path <- function(ld = Sys.getenv("LD_LIBRARY_PATH"), r_lib = file.path(R.home(), "lib")) {
  parts <- strsplit(ld, ":", fixed = TRUE)[[1]]
  system_dir <- grepl("^/(usr/)?lib(64)?(/[^/]+-linux-gnu)?/?$", parts)
  keep <- nzchar(parts) & !system_dir & parts != r_lib
  paste(parts[keep], collapse = ":")
}

# The directory of the Python sources to install: path = when given, else the
# sources carried by the R package (which must have the R package's version).
python_sources <- function(path, r_version, bundled = bundled_python_dir()) {
  if (!is.null(path)) {
    if (!is.character(path) || length(path) != 1L || is.na(path) || !dir.exists(path)) {
      stop("path = must be an existing directory with the medflow Python sources.", call. = FALSE)
    }
    if (!file.exists(file.path(path, "pyproject.toml"))) {
      stop(sprintf("path = '%s' has no pyproject.toml; give the directory of the Python sources.",
                   path), call. = FALSE)
    }
    return(normalizePath(path))
  }
  dir <- bundled
  if (!nzchar(dir)) {
    stop(paste0(
      "This installation of the R package carries no Python sources (inst/python is missing). ",
      "Reinstall the R package from the repository (R CMD INSTALL or R CMD build run tools/",
      "bundle-python.sh), give path = a directory with the medflow Python sources, or use ",
      "from_index = TRUE."), call. = FALSE)
  }
  v <- pyproject_version(dir)
  if (!identical(v, r_version)) {
    stop(sprintf(paste0("The Python sources carried by the R package have version %s, but the R ",
                        "package is version %s; reinstall the R package from the repository."),
                 v, r_version), call. = FALSE)
  }
  dir
}

# python = is used only to create an environment: an existing one built on
# another Python is an error, not silently kept.
check_env_python <- function(envname, python) {
  if (!isTRUE(reticulate::virtualenv_exists(envname))) return(invisible(TRUE))
  env_python <- reticulate::virtualenv_python(envname)
  cfg <- file.path(dirname(dirname(env_python)), "pyvenv.cfg")
  home <- if (file.exists(cfg)) {
    line <- grep("^home\\s*=", readLines(cfg, warn = FALSE), value = TRUE)
    if (length(line)) trimws(sub("^home\\s*=", "", line[1]))
  }
  py_real <- normalizePath(path.expand(python), mustWork = FALSE)
  same <- !is.null(home) && (
    identical(normalizePath(home, mustWork = FALSE), normalizePath(dirname(python), mustWork = FALSE)) ||
      identical(normalizePath(home, mustWork = FALSE), dirname(py_real)))
  if (!same) {
    stop(sprintf(paste0(
      "The environment '%s' already exists (built on the Python in %s), so python = \"%s\" would ",
      "not be used. Remove it with reticulate::virtualenv_remove(\"%s\") or choose another ",
      "envname =."), envname, if (is.null(home)) "an unknown folder" else home, python, envname),
      call. = FALSE)
  }
  invisible(TRUE)
}

# Run Python-calling code and turn a Python exception into one plain R error
# (the Python message without the reticulate call or traceback hints), and
# Python warnings raised meanwhile into R warnings. Messages are rewritten in
# R syntax (r_message()).
py_try <- function(expr) {
  caught <- py_catch_warnings()
  res <- tryCatch(expr, error = function(e) {
    caught$done()
    stop(py_error_text(e), call. = FALSE)
  })
  for (w in caught$done()) warning(r_message(w), call. = FALSE)
  res
}

# The message of a Python exception caught in R, without the exception class or
# reticulate's hint, in R's syntax (r_message()).
py_error_text <- function(e) {
  msg <- conditionMessage(e)
  msg <- sub("\\s*Run `reticulate::py_last_error\\(\\)` for details\\.?\\s*$", "", msg)
  msg <- sub("^(ValueError|KeyError|TypeError|RuntimeError|FloatingPointError): ", "", trimws(msg))
  r_message(msg)
}

# Record Python warnings (warnings.catch_warnings(record=True)) until done(),
# which restores Python's warning filters and returns the messages.
py_catch_warnings <- function() {
  if (!reticulate::py_available(initialize = FALSE)) {
    return(list(done = function() character()))
  }
  pyw <- reticulate::import("warnings", convert = FALSE)
  cm <- pyw$catch_warnings(record = TRUE)
  log <- cm$`__enter__`()
  pyw$simplefilter("always")
  open <- TRUE
  list(done = function() {
    if (!open) return(character())
    open <<- FALSE
    msgs <- vapply(seq_len(reticulate::py_len(log)) - 1L, function(i) {
      as.character(reticulate::py_str(reticulate::py_get_item(log, i)$message))
    }, character(1))
    cm$`__exit__`(NULL, NULL, NULL)
    unique(msgs)
  })
}

# A message from Python in R's syntax: `pass extrapolate=True` becomes
# `use extrapolate = TRUE`, `missing='drop'` becomes `missing = "drop"`,
# `medflow.sensitivity()` becomes `sensitivity()`, lists become c(...).
r_message <- function(msg) {
  msg <- gsub("\\bpass ([A-Za-z_][A-Za-z0-9_]*)=", "use \\1=", msg, perl = TRUE)
  msg <- gsub("\\bmedflow\\.(?:[a-z_]+\\.)*([A-Za-z_][A-Za-z0-9_]*)\\(\\)", "\\1()", msg,
              perl = TRUE)
  msg <- gsub("\\b([A-Za-z_][A-Za-z0-9_]*)=True\\b", "\\1 = TRUE", msg, perl = TRUE)
  msg <- gsub("\\b([A-Za-z_][A-Za-z0-9_]*)=False\\b", "\\1 = FALSE", msg, perl = TRUE)
  msg <- gsub("\\b([A-Za-z_][A-Za-z0-9_]*)=None\\b", "\\1 = NULL", msg, perl = TRUE)
  msg <- gsub("\\b([A-Za-z_][A-Za-z0-9_]*)='([^']*)'", "\\1 = \"\\2\"", msg, perl = TRUE)
  msg <- gsub("\\b([A-Za-z_][A-Za-z0-9_]*)=\\[([^]]*)\\]", "\\1 = c(\\2)", msg, perl = TRUE)
  msg <- gsub("\\b([A-Za-z_][A-Za-z0-9_]*)=(-?[0-9][0-9.e+-]*|[a-z]+\\(|\\.\\.\\.)", "\\1 = \\2", msg,
              perl = TRUE)
  msg <- gsub("\\b([A-Za-z_][A-Za-z0-9_]*)=([,;. )]|$)", "\\1 =\\2", msg, perl = TRUE)
  msg
}

# Is this a Python object whose pointer no longer lives (e.g. after readRDS)?
py_dead <- function(x) {
  is.null(x) || !inherits(x, "python.builtin.object") || reticulate::py_is_null_xptr(x)
}
