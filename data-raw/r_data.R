# Builds the R data sets data/blau_duncan_cor.rda, data/blau_duncan.rda and
# data/gss_status_attainment.rda from the CSV files the Python package ships, so that R and Python use the
# same numbers. Run from the repository root:
#
#   Rscript data-raw/r_data.R
#
# tests/testthat/test-data.R checks that the .rda files still equal the CSVs.

csv_dir <- file.path("python", "medflow", "data")
stopifnot(dir.exists(csv_dir), dir.exists("data"))

# The published correlation matrix (Blau & Duncan 1967, p. 169). The CSV
# starts with "# key: value" lines (source, n, variable descriptions).
cor_file <- file.path(csv_dir, "blau_duncan_correlations.csv")
header <- grep("^#", readLines(cor_file, encoding = "UTF-8"), value = TRUE)
meta <- sub("^#\\s*", "", header)
meta <- stats::setNames(trimws(sub("^[^:]*:", "", meta)), trimws(sub(":.*$", "", meta)))
cor_csv <- utils::read.csv(cor_file, comment.char = "#", check.names = FALSE,
                           stringsAsFactors = FALSE, row.names = 1)
blau_duncan_cor <- as.matrix(cor_csv)
stopifnot(identical(rownames(blau_duncan_cor), colnames(blau_duncan_cor)),
          isSymmetric(blau_duncan_cor), all(diag(blau_duncan_cor) == 1))
attr(blau_duncan_cor, "n") <- as.integer(meta[["n"]])
attr(blau_duncan_cor, "source") <- meta[["source"]]

# The bundled synthetic data set.
blau_duncan <- utils::read.csv(file.path(csv_dir, "blau_duncan_synthetic.csv"),
                               check.names = FALSE, stringsAsFactors = FALSE)
stopifnot(all(c("V", "X", "U", "W", "Y") %in% names(blau_duncan)), !anyNA(blau_duncan))

# The GSS status-attainment data (real; built by data-raw/gss_status_attainment.py). The CSV
# starts with "# key: value" lines; the source and the citation become attributes.
gss_file <- file.path(csv_dir, "gss_status_attainment.csv")
gss_header <- grep("^#", readLines(gss_file, encoding = "UTF-8"), value = TRUE)
gss_meta <- sub("^#\\s*", "", gss_header)
gss_meta <- stats::setNames(trimws(sub("^[^:]*:", "", gss_meta)), trimws(sub(":.*$", "", gss_meta)))
gss_status_attainment <- utils::read.csv(gss_file, comment.char = "#", check.names = FALSE,
                                         stringsAsFactors = FALSE)
stopifnot(identical(names(gss_status_attainment)[1:4], c("V", "X", "U", "Y")),
          nrow(gss_status_attainment) == as.integer(gss_meta[["n"]]), !anyNA(gss_status_attainment))
attr(gss_status_attainment, "source") <- gss_meta[["source"]]
attr(gss_status_attainment, "citation") <- gss_meta[["citation"]]

save(blau_duncan_cor, file = file.path("data", "blau_duncan_cor.rda"), compress = "xz", version = 2)
save(blau_duncan, file = file.path("data", "blau_duncan.rda"), compress = "xz", version = 2)
save(gss_status_attainment, file = file.path("data", "gss_status_attainment.rda"), compress = "xz",
     version = 2)
message("Wrote data/blau_duncan_cor.rda, data/blau_duncan.rda and data/gss_status_attainment.rda")
