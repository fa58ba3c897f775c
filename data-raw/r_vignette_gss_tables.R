# Recomputes the GSS tables of the vignette section "From synthetic to real"
# (vignettes/blau-duncan.Rmd) in inst/extdata/. They are the tables of the
# command line's real-data analysis, so that the vignette shows exactly what
#
#   medflow blau-duncan --data gss
#
# prints and writes (seed 0, the default bootstrap). Needs Python with the
# medflow module: RETICULATE_PYTHON names its interpreter. Run from the
# repository root:
#
#   RETICULATE_PYTHON=/path/to/python Rscript data-raw/r_vignette_gss_tables.R
#
# Takes a minute or two on two CPU cores (the bootstrap refits take the longest).

python <- Sys.getenv("RETICULATE_PYTHON")
if (!nzchar(python)) stop("Set RETICULATE_PYTHON to the Python interpreter that has medflow.")
out_dir <- file.path("inst", "extdata")
stopifnot(dir.exists(out_dir))
report <- tempfile("gss-report-")
status <- system2(python, c("-m", "medflow.cli", "blau-duncan", "--data", "gss", "--seed", "0",
                            "--no-progress", "--out", shQuote(report)))
if (!identical(status, 0L)) stop("medflow blau-duncan --data gss failed (exit status ", status, ").")

copy_table <- function(from, to) {
  x <- utils::read.csv(file.path(report, from), check.names = FALSE)
  # pandas writes booleans as True/False, which read.csv leaves as text
  flags <- vapply(x, function(v) is.character(v) && all(v %in% c("True", "False")), logical(1))
  x[flags] <- lapply(x[flags], function(v) v == "True")
  utils::write.csv(x, file.path(out_dir, to), row.names = FALSE)
  message("wrote ", file.path(out_dir, to))
}
copy_table("effects.csv", "gss_effects.csv")          # flow and linear SEM, the tidy effects table
copy_table("comparison.csv", "gss_comparison.csv")    # comparison layout: one row per effect and method
copy_table("coefficients.csv", "gss_coefficients.csv")
copy_table("dose_response.csv", "gss_dose_response.csv")
if (file.exists(file.path(report, "linearity.csv"))) copy_table("linearity.csv", "gss_linearity.csv")
unlink(report, recursive = TRUE)
