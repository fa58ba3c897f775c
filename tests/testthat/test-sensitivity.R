# sensitivity(): argument checks in R (no Python needed), then a tiny flow fit
# (N = 1000, 3 epochs) against the Python package called directly and against
# effects() at rho = 0.

test_that("sensitivity() checks its arguments before Python", {
  fit <- fake_fit()
  sens <- function(...) sensitivity(fit, ..., treatment = "X", outcome = "Y")
  expect_error(sensitivity(list(), "U ~~ Y", treatment = "X", outcome = "Y"),
               "object = must be a fitted flow from medflow(), not a list.", fixed = TRUE)
  expect_error(sensitivity(structure(list(), class = "medflow_sem"), "U ~~ Y", treatment = "X",
                           outcome = "Y"),
               "object = must be a fitted flow from medflow(), not an object of class medflow_sem.",
               fixed = TRUE)
  # rho
  expect_error(sens("U ~~ Y", rho = "0.1"),
               "rho = must be a numeric vector of correlations such as seq(-0.4, 0.4, by = 0.1), not character \"0.1\".",
               fixed = TRUE)
  expect_error(sens("U ~~ Y", rho = numeric()), "rho = must be a numeric vector of correlations",
               fixed = TRUE)
  expect_error(sens("U ~~ Y", rho = c(0, NA)), "rho = must not contain missing or infinite values.",
               fixed = TRUE)
  expect_error(sens("U ~~ Y", rho = c(0, Inf)), "rho = must not contain missing or infinite values.",
               fixed = TRUE)
  expect_error(sens("U ~~ Y", rho = c(-1.5, 0.2, 1)),
               "rho = must lie strictly between -1 and 1 (a correlation of -1 or 1 makes the noise covariance singular); got -1.5, 1.",
               fixed = TRUE)
  # pairs naming variables outside the model
  expect_error(sens("U ~~ Q"),
               "pairs = : the pair 'U ~~ Q' names Q, which is not a variable of the model (its variables are V, X, U, W, Y).",
               fixed = TRUE)
  expect_error(sens(list(c("U", "Y"), c("A", "B"))),
               "pairs = : the pair 'A ~~ B' names A, B, which are not variables of the model", fixed = TRUE)
  # malformed pairs
  expect_error(sens("U ~ Y"),
               "pairs = : cannot read the pair 'U ~ Y'; write each pair as \"U ~~ Y\" or c(\"U\", \"Y\").",
               fixed = TRUE)
  expect_error(sens(c("U ~~ Y", "W ~~")), "pairs = : cannot read the pair 'W ~~'", fixed = TRUE)
  expect_error(sens("U ~~ W ~~ Y"), "pairs = : cannot read the pair 'U ~~ W ~~ Y'", fixed = TRUE)
  expect_error(sens(list(c("U", "Y", "W"))),
               "pairs = : element 1 of the list is not a pair of variable names (it is a character vector of length 3); write each pair as",
               fixed = TRUE)
  expect_error(sens(list(c("U", "Y"), "W ~~ Y")),
               "pairs = : element 2 of the list is not a pair of variable names (it is character \"W ~~ Y\")",
               fixed = TRUE)
  expect_error(sens(3),
               "pairs = must be a character vector such as c(\"U ~~ Y\", \"W ~~ Y\") or a list of pairs such as list(c(\"U\", \"Y\"), c(\"W\", \"Y\")), not double 3.",
               fixed = TRUE)
  expect_error(sens(character()), "pairs = must be a character vector such as", fixed = TRUE)
  # the other arguments
  expect_error(sensitivity(fit, "U ~~ Y", treatment = "Z", outcome = "Y"),
               "treatment = \"Z\" is not a variable of the model (its variables are V, X, U, W, Y).",
               fixed = TRUE)
  expect_error(sens("U ~~ Y", mediators = "Q"), "mediators = names Q, which are not variables of the model",
               fixed = TRUE)
  expect_error(sens("U ~~ Y", mediators = "W+Y"),
               "mediators = must not contain the treatment or the outcome.", fixed = TRUE)
  expect_error(sens("U ~~ Y", estimands = 1),
               "estimands = must be a character vector of estimand codes (\"TE\", \"NDE\", \"NIE\", \"rNDE\", \"rNIE\") or labels (\"NIE via W\"), not double 1.",
               fixed = TRUE)
  expect_error(sens("U ~~ Y", level = 0), "level = must be a number between 0 and 1", fixed = TRUE)
  expect_error(sens("U ~~ Y", n_boot = -1), "n_boot = must be a whole number of at least 0", fixed = TRUE)
  expect_error(sens("U ~~ Y", seed = 1.5), "seed = must be a whole number of at least 0", fixed = TRUE)
  expect_error(sens("U ~~ Y", NULL, NULL, NULL, NULL, NULL, 0, 0.9, 0, 5),
               "Every argument in ... of sensitivity() must be named", fixed = TRUE)
  expect_error(sens("U ~~ Y", epochs = -1), "epochs = must be a whole number of at least 0, not double -1.",
               fixed = TRUE)
  expect_error(sens("U ~~ Y", batch_size = 10.5), "batch_size = must be a whole number of at least 1",
               fixed = TRUE)
  # everything valid: the (dead) Python model is the only problem left
  expect_error(sens(list(c("U", "Y")), rho = c(-0.2, 0.2), mediators = "W", estimands = "NIE"),
               "object = refers to a Python model that no longer exists", fixed = TRUE)
})

test_that("print() and plot() of a sensitivity table work without Python", {
  rho <- c(-0.2, 0, 0.2)
  tab <- data.frame(pair = "W ~~ Y", rho = rho, estimand = "NIE", label = "NIE via W", path = "X -> W -> Y",
                    treatment = "X", outcome = "Y", mediators = "W", a = 60, a_ref = 20,
                    estimate = c(2, 1, -1), std_error = 0.2, ci_lower = c(1.6, 0.6, -1.4),
                    ci_upper = c(2.4, 1.4, -0.6), level = 0.9, estimate_sd = c(2, 1, -1) / 20,
                    std_error_sd = 0.01, ci_lower_sd = c(1.6, 0.6, -1.4) / 20,
                    ci_upper_sd = c(2.4, 1.4, -0.6) / 20, mc_error = NA, identified = FALSE,
                    witness = "U", assumption = "monotone", method = "flow", n_boot = 20, n = 500,
                    stringsAsFactors = FALSE)
  rv <- data.frame(pair = "W ~~ Y", label = "NIE via W", rho_value = 0.1, rho_value_ci = 0.06)
  x <- medflow:::new_medflow_sensitivity(tab, rho_values = rv,
                                         notes = c("Contrast: X = 60 vs 20 (75th vs 25th percentile).", "A note."))
  expect_s3_class(x, c("medflow_sensitivity", "data.frame"), exact = TRUE)
  expect_identical(names(x), c("pair", "rho", effect_columns))
  expect_type(x$n_boot, "integer")
  out <- capture.output(print(x))
  expect_identical(out[2], "Contrast: X = 60 vs 20 (75th vs 25th percentile).")
  expect_match(out, "W ~~ Y NIE via W  0.20   -0.050 [-0.070, -0.030]", fixed = TRUE, all = FALSE)
  expect_match(out, "W ~~ Y NIE via W     0.100        0.060", fixed = TRUE, all = FALSE)
  expect_identical(out[length(out)], "A note.")
  plain <- as.data.frame(x)
  expect_identical(class(plain), "data.frame")
  expect_null(attr(plain, "rho_values"))
  expect_null(attr(plain, "notes"))
  expect_error(plot(x, engine = "lattice"), "engine = must be one of \"ggplot2\", \"base\"", fixed = TRUE)
  tmp <- tempfile(fileext = ".pdf")
  grDevices::pdf(tmp)
  drawn <- plot(x, engine = "base")
  grDevices::dev.off()
  expect_identical(drawn, x)
  expect_gt(file.size(tmp), 3000)
  skip_if_not_installed("ggplot2")
  p <- plot(x, scale = "raw")
  expect_s3_class(p, "ggplot")
  geoms <- vapply(p$layers, function(l) class(l$geom)[1], character(1))
  expect_true(all(c("GeomRibbon", "GeomLine", "GeomHline") %in% geoms))
  built <- ggplot2::ggplot_build(p)
  expect_identical(built$data[[which(geoms == "GeomLine")]]$y, c(2, 1, -1))
  expect_identical(built$data[[which(geoms == "GeomRibbon")]]$ymin, c(1.6, 0.6, -1.4))
})

# A tiny fit shared by the tests below.
sens_fit <- local({
  cache <- NULL
  function() {
    if (is.null(cache)) {
      ds <- reticulate::import("medflow.datasets", convert = FALSE)
      data <- medflow:::py_frame_to_r(ds$simulate(dgp = "linear", n = 1000L, seed = 1L)$data)
      cache <<- list(data = data, fit = medflow(bd_model, data, epochs = 3, seed = 5, verbose = FALSE))
    }
    cache
  }
})

# Where a piecewise-linear curve crosses zero, nearest to rho = 0.
zero_crossing <- function(r, v) {
  k <- which(utils::head(v, -1) * utils::tail(v, -1) < 0)
  pts <- c(r[v == 0], r[k] - v[k] * (r[k + 1] - r[k]) / (v[k + 1] - v[k]))
  if (length(pts)) pts[which.min(abs(pts))] else NA_real_
}

test_that("sensitivity() returns one row per pair, rho and effect, as Python does", {
  skip_if_no_medflow()
  x <- sens_fit()
  grid <- c(0.4, -0.2, 0, 0.2)
  res <- sensitivity(x$fit, pairs = c("U ~~ Y", "W ~~ Y"), rho = grid, treatment = "X", outcome = "Y",
                     mediators = "W", seed = 3, verbose = FALSE)
  labels <- c("TE", "NDE via W", "NIE via W")
  expect_s3_class(res, c("medflow_sensitivity", "data.frame"), exact = TRUE)
  expect_identical(names(res), c("pair", "rho", effect_columns))
  expect_identical(nrow(res), 2L * 4L * 3L)
  expect_identical(res$pair, rep(c("U ~~ Y", "W ~~ Y"), each = 12))
  expect_identical(res$rho, rep(rep(sort(grid), each = 3), 2))
  expect_identical(res$label, rep(labels, 8))
  expect_true(all(is.na(res$ci_lower)) && all(res$n_boot == 0L))
  # SD units divide by the sample SD of the outcome
  expect_equal(res$estimate / res$estimate_sd, rep(stats::sd(x$data$Y), 24), tolerance = 1e-10)
  expect_match(attr(res, "notes")[1], "^Contrast: X = ")
  # the same numbers as the Python function on the same fit and seed; the list form of pairs
  # gives the same result
  mf <- reticulate::import("medflow", convert = FALSE)
  py_res <- mf$sensitivity(x$fit$py, pairs = list(reticulate::tuple("U", "Y"), reticulate::tuple("W", "Y")),
                           rho = list(-0.2, 0, 0.2, 0.4), treatment = "X", outcome = "Y",
                           mediators = list("W"), seed = 3L, verbose = FALSE)
  py_tab <- medflow:::py_frame_to_r(py_res$table)
  expect_identical(res$estimate, py_tab$estimate)
  expect_identical(res$estimate_sd, py_tab$estimate_sd)
  expect_identical(attr(res, "rho_values"), medflow:::py_frame_to_r(py_res$rho_values()))
  as_list <- sensitivity(x$fit, pairs = list(c("U", "Y"), c("W", "Y")), rho = grid, treatment = "X",
                         outcome = "Y", mediators = "W", seed = 3, verbose = FALSE)
  expect_identical(as.data.frame(as_list), as.data.frame(res))
  # rho-values: where each curve crosses zero (interpolated on the grid)
  rv <- attr(res, "rho_values")
  expect_identical(names(rv), c("pair", "label", "rho_value", "rho_value_ci"))
  expect_identical(rv$pair, rep(c("U ~~ Y", "W ~~ Y"), each = 3))
  expect_identical(rv$label, rep(labels, 2))
  for (i in seq_len(nrow(rv))) {
    sub <- res[res$pair == rv$pair[i] & res$label == rv$label[i], ]
    expect_equal(rv$rho_value[i], zero_crossing(sub$rho, sub$estimate), tolerance = 1e-12)
  }
  expect_true(all(is.na(rv$rho_value_ci)))
  # a positive W-Y noise correlation shrinks the indirect effect through W through zero
  nie_w <- rv$rho_value[rv$pair == "W ~~ Y" & rv$label == "NIE via W"]
  expect_true(nie_w > 0 && nie_w < 0.4)
  # print() and plot()
  out <- capture.output(print(res))
  expect_identical(out[1], "medflow sensitivity of the effects of X on Y to a noise correlation rho (rho-GNF)")
  expect_true("rho at which each effect crosses zero (. = no crossing on the grid):" %in% out)
  expect_match(out, sprintf("W ~~ Y NIE via W +%s$", formatC(nie_w, digits = 3, format = "f")), all = FALSE)
  skip_if_not_installed("ggplot2")
  p <- plot(res)
  expect_s3_class(p, "ggplot")
  built <- ggplot2::ggplot_build(p)
  expect_identical(nrow(built$layout$layout), 3L)
  geoms <- vapply(p$layers, function(l) class(l$geom)[1], character(1))
  expect_false("GeomRibbon" %in% geoms)
  expect_identical(nrow(built$data[[which(geoms == "GeomLine")]]), 24L)
})

test_that("at rho = 0 without fine-tuning sensitivity() reproduces effects()", {
  skip_if_no_medflow()
  x <- sens_fit()
  # epochs = 0: every refit is its warm start, which at rho = 0 is the fit itself; the natural
  # effects of continuous variables involve no random draws, so they agree up to float32
  # rounding (the flow computes in single precision; relative differences of about 1e-7).
  res <- sensitivity(x$fit, pairs = "W ~~ Y", rho = c(-0.1, 0, 0.1), treatment = "X", outcome = "Y",
                     mediators = "W", epochs = 0, verbose = FALSE)
  eff <- effects(x$fit, "X", "Y", mediators = "W", interventional = FALSE)
  at0 <- res[res$rho == 0, ]
  expect_identical(at0$label, eff$label)
  expect_equal(at0$estimate, eff$estimate, tolerance = 1e-6)
  expect_equal(at0$estimate_sd, eff$estimate_sd, tolerance = 1e-6)
  expect_identical(c(at0$a[1], at0$a_ref[1]), c(eff$a[1], eff$a_ref[1]))
  # rows at rho != 0 rest on the assumed rho: not identified, and the assumption says which rho
  expect_identical(at0$identified, eff$identified)
  expect_false(any(res$identified[res$rho != 0]))
  expect_match(res$assumption[res$rho == 0.1 & res$label == "TE"],
               "^the noises of W ~~ Y have correlation rho = 0.1 \\(Gaussian copula")
  # and away from rho = 0 the effects move
  expect_gt(max(abs(res$estimate[res$rho == 0.1] - eff$estimate)), 1e-3)
})

test_that("sensitivity() with bootstrap intervals; Python's errors reach R", {
  skip_if_no_medflow()
  x <- sens_fit()
  res <- sensitivity(x$fit, pairs = list(c("W", "Y")), rho = c(0, 0.3), treatment = "X", outcome = "Y",
                     mediators = "W", estimands = "NIE", n_boot = 2, level = 0.8, seed = 1,
                     verbose = FALSE)
  expect_identical(nrow(res), 2L)
  expect_identical(res$label, c("NIE via W", "NIE via W"))
  expect_identical(res$n_boot, c(2L, 2L))
  expect_identical(res$level, c(0.8, 0.8))
  expect_true(all(res$ci_lower <= res$ci_upper))
  out <- capture.output(print(res))
  expect_true(any(grepl("80% CI", out, fixed = TRUE)))
  expect_true(any(grepl("rho_value_ci", out, fixed = TRUE)))
  if (requireNamespace("ggplot2", quietly = TRUE)) {
    geoms <- vapply(plot(res)$layers, function(l) class(l$geom)[1], character(1))
    expect_true("GeomRibbon" %in% geoms)
  }
  # the remaining rules are checked by the Python package
  expect_error(sensitivity(x$fit, "U ~~ U", treatment = "X", outcome = "Y", verbose = FALSE),
               "The pair U ~~ U pairs a variable with itself; a pair needs two different variables.",
               fixed = TRUE)
  expect_error(sensitivity(x$fit, c("U ~~ Y", "Y ~~ U"), treatment = "X", outcome = "Y", verbose = FALSE),
               "The set of pairs U ~~ Y is given twice in pairs =.", fixed = TRUE)
  expect_error(sensitivity(x$fit, "U ~~ Y", rho = c(0.1, 0.1), treatment = "X", outcome = "Y",
                           verbose = FALSE),
               "rho has duplicate values: 0.1.", fixed = TRUE)
  expect_error(sensitivity(x$fit, "U ~~ Y", treatment = "X", outcome = "Y", n_boot = 1, verbose = FALSE),
               "n_boot must be 0 or an integer of at least 2, got 1.", fixed = TRUE)
  expect_error(sensitivity(x$fit, "U ~~ Y", treatment = "X", outcome = "Y", estimands = "PSE",
                           verbose = FALSE),
               "Unknown estimand(s) 'PSE'", fixed = TRUE)
})
