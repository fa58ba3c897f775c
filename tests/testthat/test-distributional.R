# Distributional effects and mobility tables from R: argument checks (no Python needed), then
# the round trip through Python against numbers the Python package computes itself.

test_that("distributional_effects() and mobility_table() check their arguments in R", {
  fit <- fake_fit()
  expect_error(distributional_effects(fit, "X", "Y", quantiles = c(0, 0.5)),
               "quantiles = must be numbers strictly between 0 and 1, not a double vector of length 2.",
               fixed = TRUE)
  expect_error(distributional_effects(fit, "X", "Y", quantiles = c(0.5, 0.5)),
               "quantiles = has the value 0.5 twice.", fixed = TRUE)
  expect_error(distributional_effects(fit, "X", "Y", threshold = NA_real_),
               "threshold = must be a numeric vector of finite outcome values, not double NA_real_.",
               fixed = TRUE)
  expect_error(distributional_effects(fit, "X", "Y", quantiles = NULL, means = FALSE),
               "Nothing to estimate: give quantiles =, threshold = or means = TRUE.", fixed = TRUE)
  expect_error(distributional_effects(fit, "X", "Z"), "outcome = \"Z\" is not a variable of the model",
               fixed = TRUE)
  expect_error(mobility_table(fit, "X", "Y", bins = 1), "bins = must be a whole number of at least 2",
               fixed = TRUE)
  expect_error(mobility_table(fit, "X", "X"), "origin = and destination = must be different variables.",
               fixed = TRUE)
  expect_error(mobility_table(fit, "X", "Y", mediators = "U"),
               "Give both mediators = and a_ref = for a counterfactual table", fixed = TRUE)
  expect_error(mobility_table(fit, "X", "Y", mediators = "Q", a_ref = 1),
               "mediators = names Q, which are not variables of the model", fixed = TRUE)
  expect_error(mobility_table(fit, "X", "Y", mediators = "Y", a_ref = 1),
               "mediators = must not contain the origin or the destination.", fixed = TRUE)
})

test_that("effects tables without a quantile column still load, and quantile rows keep their label", {
  tab <- data.frame(
    estimand = c("TE", "TE"), label = c("TE", "TE [q=0.5]"), path = "X -> Y", treatment = "X",
    outcome = "Y", mediators = "", a = 1, a_ref = 0, estimate = c(0.5, 0.4), std_error = NA,
    ci_lower = NA, ci_upper = NA, level = NA, estimate_sd = c(0.25, 0.2), std_error_sd = NA,
    ci_lower_sd = NA, ci_upper_sd = NA, mc_error = NA, identified = TRUE, witness = "",
    assumption = "", method = "flow", n_boot = 0L, n = 10L, stringsAsFactors = FALSE
  )
  eff <- as_medflow_effects(tab)
  expect_identical(names(eff), effect_columns)
  expect_true(all(is.na(eff$quantile)))
  expect_identical(medflow:::display_labels(eff), c("Total Effect: X ~> Y", "Total Effect: X ~> Y [q=0.5]"))
})

skip_if_no_medflow()

py_sim <- local({
  sim <- NULL
  function() {
    if (is.null(sim)) {
      ds <- reticulate::import("medflow.datasets", convert = FALSE)
      sim <<- medflow:::py_frame_to_r(ds$simulate("nonlinear", 400L, seed = 3L)$data)
    }
    sim
  }
})

test_that("distributional_effects() on a flow returns the quantile rows Python computes", {
  d <- py_sim()
  fit <- medflow(bd_model, d, epochs = 2, seed = 0, verbose = FALSE)
  q <- distributional_effects(fit, "X", "Y", mediators = "W", quantiles = c(0.25, 0.75), threshold = 0,
                              a = 0.5, a_ref = -0.3, interventional = FALSE)
  expect_s3_class(q, c("medflow_distributional", "medflow_effects", "data.frame"), exact = TRUE)
  expect_identical(names(q), effect_columns)
  expect_identical(q$label, c("TE", "TE [q=0.25]", "TE [q=0.75]", "TE [P(Y > 0)]",
                              "NDE via W", "NDE via W [q=0.25]", "NDE via W [q=0.75]", "NDE via W [P(Y > 0)]",
                              "NIE via W", "NIE via W [q=0.25]", "NIE via W [q=0.75]", "NIE via W [P(Y > 0)]"))
  expect_identical(q$quantile, rep(c(NA, 0.25, 0.75, NA), 3))
  py <- fit$py$distributional_effects("X", "Y", mediators = list("W"), quantiles = list(0.25, 0.75),
                                      threshold = 0, a = 0.5, a_ref = -0.3, interventional = FALSE)
  expect_equal(q$estimate, as.numeric(unlist(reticulate::py_to_r(py$table$estimate$tolist()))),
               tolerance = 1e-12)
  te <- coef(q)
  expect_equal(unname(te["TE [q=0.25]"]), unname(te["NDE via W [q=0.25]"] + te["NIE via W [q=0.25]"]),
               tolerance = 1e-9)
  if (requireNamespace("ggplot2", quietly = TRUE)) {
    p <- plot(q)
    expect_s3_class(p, "ggplot")
    expect_identical(levels(p$data$effect), c("TE", "NDE via W", "NIE via W"))
    expect_error(plot(q, effects = "rNIE via W"), "effects = names rNIE via W, which x has no quantile rows",
                 fixed = TRUE)
  }
  mob <- mobility_table(fit, "X", "Y", bins = 4, mediators = "U", a_ref = -0.3)
  expect_s3_class(mob, "medflow_mobility")
  expect_identical(dim(mob$observed), c(4L, 4L))
  expect_equal(unname(rowSums(mob$counterfactual)), rep(1, 4), tolerance = 1e-12)
  cuts <- stats::quantile(d$X, c(0.25, 0.5, 0.75), type = 1, names = FALSE)
  expect_equal(mob$origin_cuts, cuts)
  xb <- findInterval(d$X, cuts, left.open = TRUE)
  yb <- findInterval(d$Y, stats::quantile(d$Y, c(0.25, 0.5, 0.75), type = 1, names = FALSE), left.open = TRUE)
  expect_equal(unname(mob$observed), unname(unclass(prop.table(table(xb, yb), 1))), tolerance = 1e-12)
  expect_equal(mob$indices["immobility", "observed"], mean(xb == yb), tolerance = 1e-12)
  expect_equal(mob$indices["shorrocks", "observed"], (4 - sum(diag(mob$observed))) / 3, tolerance = 1e-12)
  expect_equal(mob$indices["rank_correlation", "observed"], stats::cor(d$X, d$Y, method = "spearman"),
               tolerance = 1e-12)
  long <- as.data.frame(mob)
  expect_identical(names(long), c("world", "origin_bin", "destination_bin", "probability", "method"))
  expect_identical(nrow(long), 32L)
  expect_output(print(mob), "Counterfactual \\(U at its value under X = -0.3\\)")
  if (requireNamespace("ggplot2", quietly = TRUE)) expect_s3_class(plot(mob), "ggplot")
})

test_that("the linear SEM's quantile effects equal its mean effects", {
  sem <- linear_sem(bd_model, data = simulate_bd(1000, 1))
  q <- distributional_effects(sem, "X", "Y", mediators = "W", quantiles = c(0.1, 0.9), a = 1, a_ref = 0,
                              n_sim = 5000)
  m <- coef(effects(sem, "X", "Y", mediators = "W", a = 1, a_ref = 0))
  est <- coef(q)
  for (lab in names(m)) {
    expect_equal(unname(est[paste0(lab, " [q=0.1]")]), unname(m[lab]), tolerance = 1e-9)
    expect_equal(unname(est[paste0(lab, " [q=0.9]")]), unname(m[lab]), tolerance = 1e-9)
  }
  expect_error(distributional_effects(sem, "X", "Y", n_boot = 10),
               "n_boot = must be 0 for a linear SEM", fixed = TRUE)
  mob <- mobility_table(sem, "X", "Y", mediators = "U", a_ref = -0.5, n_sim = 5000)
  expect_identical(mob$method, "linear SEM")
  expect_lt(mob$indices["rank_correlation", "counterfactual"], mob$indices["rank_correlation", "observed"])
})
