published <- matrix(c(
  1.000, 0.516, 0.453, 0.332, 0.322,
  0.516, 1.000, 0.438, 0.417, 0.405,
  0.453, 0.438, 1.000, 0.538, 0.596,
  0.332, 0.417, 0.538, 1.000, 0.541,
  0.322, 0.405, 0.596, 0.541, 1.000
), 5, byrow = TRUE, dimnames = list(c("V", "X", "U", "W", "Y"), c("V", "X", "U", "W", "Y")))

test_that("blau_duncan_cor is the published matrix with N and source", {
  expect_equal(unclass(blau_duncan_cor)[, ], published)
  expect_identical(attr(blau_duncan_cor, "n"), 20700L)
  expect_match(attr(blau_duncan_cor, "source"), "Blau, P. M. and Duncan, O. D. (1967)", fixed = TRUE)
  expect_match(attr(blau_duncan_cor, "source"), "p. 169", fixed = TRUE)
})

test_that("blau_duncan is the bundled synthetic data set", {
  expect_identical(dim(blau_duncan), c(20700L, 5L))
  expect_identical(names(blau_duncan), c("V", "X", "U", "W", "Y"))
  expect_true(all(vapply(blau_duncan, is.integer, logical(1))))
  expect_equal(range(blau_duncan$V), c(0L, 8L))
  expect_true(all(blau_duncan$Y >= 0 & blau_duncan$Y <= 96))
  # Shaped like the published correlations (within 0.03).
  expect_lt(max(abs(cor(blau_duncan) - published)), 0.03)
})

test_that("gss_status_attainment is the GSS extract with its published correlations", {
  gss <- gss_status_attainment
  expect_identical(dim(gss), c(1501L, 9L))
  expect_identical(names(gss), c("V", "X", "U", "Y", "year", "age", "race", "papres10", "prestg10"))
  expect_identical(vapply(gss, typeof, character(1)),
                   c(V = "integer", X = "double", U = "integer", Y = "double", year = "integer",
                     age = "integer", race = "integer", papres10 = "integer", prestg10 = "integer"))
  expect_false(anyNA(gss))
  expect_identical(range(gss$V), c(0L, 20L))
  expect_identical(range(gss$X), c(10.6, 92.8))
  expect_true(all(gss$U >= 0 & gss$U <= 20))
  expect_identical(sort(unique(gss$year)), c(2006L, 2008L, 2010L))
  expect_identical(range(gss$age), c(25L, 64L))
  expect_identical(as.vector(table(gss$race)), c(1207L, 137L, 157L))
  # The correlations of the provenance README (N = 1,501), to three decimals.
  r <- round(cor(gss[, c("V", "X", "U", "Y")]), 3)
  expect_identical(c(r["V", "X"], r["V", "U"], r["X", "U"], r["U", "Y"], r["X", "Y"], r["V", "Y"]),
                   c(0.576, 0.533, 0.379, 0.599, 0.328, 0.384))
  expect_match(attr(gss, "citation"), "General Social Surveys, 1972-2024", fixed = TRUE)
  expect_match(attr(gss, "citation"), "NORC at the University of Chicago", fixed = TRUE)
  expect_match(attr(gss, "source"), "General Social Survey panels 2006, 2008 and 2010", fixed = TRUE)
})

# The source tree (python/medflow/data) is there when the tests run from a
# checkout (devtools::test(), tests/run-r-tests.sh), not inside R CMD check.
csv_dir <- function() {
  dir <- test_path("..", "..", "python", "medflow", "data")
  if (!dir.exists(dir)) skip("the Python sources are not beside the tests (installed package)")
  dir
}

test_that("the R data equal the CSV files the Python package ships", {
  dir <- csv_dir()
  r <- utils::read.csv(file.path(dir, "blau_duncan_correlations.csv"), comment.char = "#",
                       row.names = 1, check.names = FALSE)
  expect_identical(unclass(blau_duncan_cor)[, ], as.matrix(r))
  header <- readLines(file.path(dir, "blau_duncan_correlations.csv"), n = 2)
  expect_true(sprintf("# n: %d", attr(blau_duncan_cor, "n")) %in% header)
  expect_true(paste("# source:", attr(blau_duncan_cor, "source")) %in% header)
  synth <- utils::read.csv(file.path(dir, "blau_duncan_synthetic.csv"))
  expect_identical(blau_duncan, synth)
  gss <- utils::read.csv(file.path(dir, "gss_status_attainment.csv"), comment.char = "#")
  expect_identical(`attributes<-`(gss_status_attainment, attributes(gss)), gss)
  header <- readLines(file.path(dir, "gss_status_attainment.csv"), n = 2)
  expect_true(paste("# citation:", attr(gss_status_attainment, "citation")) %in% header)
})

test_that("the R data equal the Python copies", {
  skip_if_no_medflow()
  ds <- reticulate::import("medflow.datasets", convert = FALSE)
  r <- ds$blau_duncan_correlations()
  py_cor <- as.matrix(medflow:::py_frame_to_r(r))
  rownames(py_cor) <- unlist(reticulate::py_to_r(r$index$tolist()))
  expect_identical(unclass(blau_duncan_cor)[, ], py_cor)
  expect_identical(attr(blau_duncan_cor, "n"), reticulate::py_to_r(r$attrs[["n"]]))
  expect_identical(attr(blau_duncan_cor, "source"), reticulate::py_to_r(r$attrs[["source"]]))
  expect_identical(blau_duncan, medflow:::py_frame_to_r(ds$blau_duncan_synthetic()))
  gss <- ds$gss_status_attainment()
  expect_identical(`attributes<-`(gss_status_attainment, attributes(medflow:::py_frame_to_r(gss))),
                   medflow:::py_frame_to_r(gss))
  expect_identical(attr(gss_status_attainment, "citation"), reticulate::py_to_r(gss$attrs[["citation"]]))
})

test_that("the precomputed vignette tables are effects tables", {
  for (f in c("blau_duncan_linear_effects.csv", "blau_duncan_flow_effects.csv")) {
    eff <- as_medflow_effects(utils::read.csv(extdata(f)))
    expect_identical(names(eff), effect_columns)
    expect_true(all(c("TE", "NDE via W", "NIE via W") %in% eff$label))
  }
})

test_that("the precomputed GSS tables are the command line's effects of X on Y via U", {
  eff <- as_medflow_effects(utils::read.csv(extdata("gss_effects.csv")))
  expect_identical(names(eff), effect_columns)
  labels <- c("TE", "NDE via U", "NIE via U", "rNDE via U", "rNIE via U")
  expect_identical(eff$label[eff$method == "flow"], labels)
  expect_identical(eff$label[eff$method == "linear SEM"], labels)
  expect_true(all(eff$identified) && all(eff$n == 1501L) && all(eff$n_boot == eff$n_boot[1]))
  expect_gte(eff$n_boot[1], 2L)
  expect_true(all(eff$ci_lower <= eff$estimate & eff$estimate <= eff$ci_upper))
  # the linear SEM rows are reproducible in R: OLS on gss_status_attainment
  gss <- gss_status_attainment
  b_u <- coef(lm(U ~ V + X, data = gss))[["X"]]
  fit_y <- coef(lm(Y ~ U + X, data = gss))
  lin <- eff[eff$method == "linear SEM", ]
  contrast <- lin$a[1] - lin$a_ref[1]
  expect_equal(lin$estimate[lin$label == "NIE via U"], b_u * fit_y[["U"]] * contrast, tolerance = 1e-9)
  expect_equal(lin$estimate[lin$label == "NDE via U"], fit_y[["X"]] * contrast, tolerance = 1e-9)
  coefs <- utils::read.csv(extdata("gss_coefficients.csv"))
  expect_equal(coefs$from_correlations, coefs$from_data, tolerance = 1e-9)
})
