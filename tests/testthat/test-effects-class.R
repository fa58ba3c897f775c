# The effects table and its methods are pure R: no Python needed.

make_effects <- function(method = "flow", shift = 0) {
  sd_y <- 2
  est <- c(0.6, 0.4, 0.2) + shift
  se <- c(0.05, 0.04, 0.03)
  lo <- est - 1.645 * se
  hi <- est + 1.645 * se
  tab <- data.frame(
    estimand = c("TE", "NDE", "NIE"), label = c("TE", "NDE via W", "NIE via W"),
    path = c("X -> Y; X -> W -> Y", "X -> Y", "X -> W -> Y"), treatment = "X", outcome = "Y",
    mediators = c("", "W", "W"), a = 60, a_ref = 20, estimate = est, std_error = se,
    ci_lower = lo, ci_upper = hi, level = 0.9, estimate_sd = est / sd_y, std_error_sd = se / sd_y,
    ci_lower_sd = lo / sd_y, ci_upper_sd = hi / sd_y, mc_error = NA,
    identified = c(TRUE, FALSE, FALSE), witness = c("", "U", "U"),
    assumption = c("", "each structural equation is strictly increasing in one independent scalar noise; not identified", "x; y"),
    method = method, n_boot = 50L, n = 500L, stringsAsFactors = FALSE
  )
  draws <- data.frame(TE = seq(0.5, 0.7, length.out = 50), `NDE via W` = seq(0.3, 0.5, length.out = 50),
                      `NIE via W` = seq(0.1, 0.3, length.out = 50), check.names = FALSE)
  as_medflow_effects(tab, notes = c("Contrast: X = 60 vs 20 (75th vs 25th percentile).", "Averaged over 500 units."),
                     draws = draws)
}

test_that("as_medflow_effects() keeps the tidy schema and types", {
  eff <- make_effects()
  expect_s3_class(eff, c("medflow_effects", "data.frame"), exact = TRUE)
  expect_identical(names(eff), effect_columns)
  expect_type(eff$identified, "logical")
  expect_type(eff$n, "integer")
  expect_error(as_medflow_effects(list(a = 1)), "x = must be a data.frame", fixed = TRUE)
  expect_error(as_medflow_effects(eff[, -2]), "x = lacks the effects column label.", fixed = TRUE)
  expect_error(as_medflow_effects(eff[, 1:20]),
               "x = lacks the effects columns assumption, method, n_boot, n.", fixed = TRUE)
})

test_that("coef() and confint() return the stored numbers", {
  eff <- make_effects()
  expect_equal(coef(eff), c(TE = 0.6, `NDE via W` = 0.4, `NIE via W` = 0.2))
  expect_equal(coef(eff, scale = "sd"), c(TE = 0.3, `NDE via W` = 0.2, `NIE via W` = 0.1))
  ci <- confint(eff)
  expect_equal(dimnames(ci), list(c("TE", "NDE via W", "NIE via W"), c("5 %", "95 %")))
  expect_equal(unname(ci[, 1]), eff$ci_lower)
  expect_equal(unname(confint(eff, scale = "sd")[, 2]), eff$ci_upper_sd)
  expect_equal(confint(eff, parm = "TE"), ci["TE", , drop = FALSE])
  expect_equal(confint(eff, level = 0.9), ci)
})

test_that("confint() at another level uses the bootstrap draws", {
  eff <- make_effects()
  ci <- confint(eff, level = 0.5)
  expect_equal(colnames(ci), c("25 %", "75 %"))
  draws <- attr(eff, "draws")
  expect_equal(unname(ci["NDE via W", ]), unname(quantile(draws[["NDE via W"]], c(0.25, 0.75))))
  expect_equal(unname(confint(eff, level = 0.5, scale = "sd")["TE", ]),
               unname(quantile(draws$TE, c(0.25, 0.75))) / 2)
  no_draws <- as_medflow_effects(as.data.frame(eff))
  expect_error(confint(no_draws, level = 0.5),
               "This result has no bootstrap draws; refit with n_boot = greater than 0", fixed = TRUE)
  expect_error(confint(eff, level = 2), "level = must be a number between 0 and 1", fixed = TRUE)
})

test_that("confint(type = 'basic') reflects the percentile interval about the estimate", {
  eff <- make_effects(shift = 0.05)  # estimates off the draws' centre: basic != percentile
  pct <- confint(eff, level = 0.5)
  basic <- confint(eff, level = 0.5, type = "basic")
  expect_equal(unname(basic[, 1]), 2 * eff$estimate - unname(pct[, 2]))
  expect_equal(unname(basic[, 2]), 2 * eff$estimate - unname(pct[, 1]))
  expect_equal(colnames(basic), c("25 %", "75 %"))
  expect_equal(unname(basic["TE", ]), c(0.65, 0.75))  # draws 0.5-0.7, quartiles 0.55, 0.65
  stored <- confint(eff, type = "basic")
  draws <- attr(eff, "draws")
  expect_equal(unname(stored["TE", ]),
               2 * eff$estimate[1] - rev(unname(quantile(draws$TE, c(0.05, 0.95)))))
  expect_error(confint(eff, type = "bca"), "'arg' should be one of")
  expect_error(confint(as_medflow_effects(as.data.frame(eff)), type = "basic"),
               "intervals at another level or of another type", fixed = TRUE)
})

test_that("summary() shows the Monte Carlo error only where it is not negligible", {
  eff <- make_effects()
  expect_false("MC error" %in% colnames(summary(eff)$coefficients))       # all NA
  eff$mc_error <- c(0, 0.0019, 0.01)    # SD(Y) = 2: 0.002 is negligible; SE 0.03: 0.003 is
  s <- summary(eff)
  expect_equal(colnames(s$coefficients), c("Estimate", "Std. Error", "MC error", "90% lower", "90% upper"))
  expect_equal(unname(s$coefficients[, "MC error"]), c(NA, NA, 0.01))
  expect_equal(unname(summary(eff, scale = "sd")$coefficients[3, "MC error"]), 0.005)
  expect_true(any(grepl("^MC error: Monte Carlo error of the estimate", capture.output(print(s)))))
  eff$mc_error <- c(0, 0, 0.002)        # below a tenth of the SE (0.03)
  expect_false("MC error" %in% colnames(summary(eff)$coefficients))
})

test_that("summary() labels rows like lavaan/paths and has the footer", {
  eff <- make_effects()
  s <- summary(eff)
  expect_s3_class(s, "summary.medflow_effects")
  expect_equal(rownames(s$coefficients), c(
    "Total Effect: X ~> Y",
    "Natural Direct: X ~> Y not via W *",
    "Natural Indirect: X ~> W ~> Y *"))
  expect_equal(colnames(s$coefficients), c("Estimate", "Std. Error", "90% lower", "90% upper"))
  expect_equal(unname(s$coefficients[, 1]), eff$estimate)
  expect_equal(unname(summary(eff, scale = "sd")$coefficients[, 2]), eff$std_error_sd)
  out <- capture.output(print(s))
  expect_true("N = 500" %in% out)
  expect_true("Bootstrap draws: 50 (percentile intervals)" %in% out)
  expect_true("Contrast: X = 60 vs 20 (75th vs 25th percentile)." %in% out)
  expect_true("* Not identified from the observed distribution (recanting witness: U);" %in% out)
  expect_true(any(grepl("the estimate assumes: each structural equation is strictly increasing", out,
                        fixed = TRUE)))
  expect_true("Averaged over 500 units." %in% out)
  expect_true(any(grepl("^Total Effect: X ~> Y +0\\.6", out)))
  expect_error(summary(eff, scale = "log"), "'arg' should be one of")
})

test_that("print() shows labels, intervals and the contrast", {
  eff <- make_effects()
  out <- capture.output(print(eff))
  expect_match(out[1], "medflow effects of X on Y (method: flow)", fixed = TRUE)
  expect_true(any(grepl("^NDE via W \\* +0\\.4000 +\\[0\\.3342, 0\\.4658\\] +0\\.2000$", out)))
  expect_true("Contrast: X = 60 vs 20 (75th vs 25th percentile)." %in% out)
  # A subset without all columns falls back to a data.frame print.
  expect_output(print(eff[, c("label", "estimate")]), "NDE via W")
})

test_that("results are plain data and survive saveRDS()", {
  eff <- make_effects()
  path <- tempfile(fileext = ".rds")
  saveRDS(eff, path)
  back <- readRDS(path)
  expect_identical(back, eff)
  expect_output(print(back), "NIE via W")
  df <- as.data.frame(eff)
  expect_identical(class(df), "data.frame")
  expect_null(attr(df, "draws"))
  expect_identical(names(df), effect_columns)
})

test_that("compare() stacks results of the same query in one long layout", {
  flow <- make_effects("flow")
  lin <- make_effects("linear SEM", shift = 0.1)
  cmp <- compare(flow, lin)
  expect_s3_class(cmp, "medflow_comparison")
  expect_identical(names(cmp), comparison_columns)
  expect_identical(cmp$label, rep(flow$label, each = 2))
  expect_identical(cmp$name, rep(c("flow", "linear SEM"), 3))
  expect_equal(cmp$estimate_sd[cmp$name == "flow"], flow$estimate_sd)
  expect_equal(cmp$estimate[cmp$name == "linear SEM"], lin$estimate)
  part <- compare(a = flow, b = lin[1, ])
  expect_identical(part$name, c("a", "b", "a", "a"))
  expect_output(print(part, scale = "raw"), "outcome units")
  expect_output(print(part), "0.300 \\[0.259, 0.341\\]")
  expect_error(compare(flow, flow), "compare() needs one distinct name per result", fixed = TRUE)
  expect_error(compare(flow, lin, names = "x"), "one distinct name per result", fixed = TRUE)
  expect_error(compare(), "compare() needs at least one effects table.", fixed = TRUE)
  expect_error(compare(flow, 3), "argument 2 is double 3.", fixed = TRUE)
  other <- flow
  other$a <- 61
  expect_error(compare(flow = flow, other = other),
               "compare() needs results of the same treatment, outcome and contrast; these differ: a (flow: 60; other: 61).",
               fixed = TRUE)
})

test_that("plot() draws a forest plot with ggplot2", {
  skip_if_not_installed("ggplot2")
  eff <- make_effects()
  p <- plot(eff)
  expect_s3_class(p, "ggplot")
  expect_equal(levels(p$data$label), rev(eff$label))
  expect_equal(p$data$estimate, eff$estimate_sd)
  expect_equal(p$data$identified == "yes", eff$identified)
  expect_equal(plot(eff, scale = "raw")$data$upper, eff$ci_upper)
  expect_equal(p$labels$x, "effect (SD of Y)")
  both <- plot(compare(flow = eff, linear = make_effects("linear", 0.1)))
  expect_equal(sort(unique(both$data$group)), c("flow", "linear"))
  expect_silent(ggplot2::ggplot_build(both))
})
