# linear_sem() against lavaan on the Blau-Duncan matrix (and on the bundled data).

lavaan_model <- "
  U ~ uv*V + ux*X
  W ~ wu*U + wx*X
  Y ~ yu*U + yx*X + yw*W
  TE   := ux*yu + ux*wu*yw + wx*yw + yx
  NIEW := ux*wu*yw + wx*yw
  NDEW := ux*yu + yx
  NIEU := ux*yu + ux*wu*yw
"

test_that("linear_sem() reproduces the published Blau-Duncan path coefficients", {
  skip_if_no_medflow()
  sem <- linear_sem(bd_model, cor = blau_duncan_cor)
  expect_s3_class(sem, "medflow_sem")
  expect_identical(sem$n, 20700L)
  std <- coef(sem, standardized = TRUE)
  expect_equal(unname(std[c("U ~ V", "U ~ X", "W ~ U", "W ~ X", "Y ~ U", "Y ~ X", "Y ~ W")]),
               c(0.310, 0.279, 0.440, 0.224, 0.394, 0.115, 0.281), tolerance = 0.0015 / 0.3)
  expect_equal(unname(round(sem$residual_paths, 3)), c(0.859, 0.818, 0.753))
  eff <- effects(sem, "X", "Y", mediators = "W", a = 1, a_ref = 0)
  expect_equal(round(coef(eff)[c("TE", "NDE via W", "NIE via W")], 3),
               c(TE = 0.322, `NDE via W` = 0.225, `NIE via W` = 0.097))
  expect_equal(eff$identified[eff$label == "NIE via W"], FALSE)
  expect_equal(eff$witness[eff$label == "NIE via W"], "U")
  expect_output(print(sem), "Standardized path coefficients")
  out <- capture.output(print(summary(sem)))
  expect_true("Regression of Y (R-squared 0.434, residual path 0.753):" %in% out)
})

test_that("linear_sem() matches lavaan on the Blau-Duncan matrix", {
  skip_if_no_medflow()
  skip_if_not_installed("lavaan")
  lav <- lavaan::sem(lavaan_model, sample.cov = unclass(blau_duncan_cor)[, ], sample.nobs = 20700)
  pe <- lavaan::parameterEstimates(lav)
  reg <- pe[pe$op == "~", ]
  sem <- linear_sem(bd_model, cor = blau_duncan_cor, df_correction = FALSE)
  ours <- sem$params[sem$params$op == "~", ]
  key <- paste(reg$lhs, reg$rhs)
  ours <- ours[match(key, paste(ours$lhs, ours$rhs)), ]
  expect_equal(ours$est, reg$est, tolerance = 1e-8)
  expect_equal(ours$se, reg$se, tolerance = 1e-6)
  eff <- effects(sem, "X", "Y", mediators = c("W", "U"), a = 1, a_ref = 0, interventional = FALSE)
  def <- stats::setNames(pe$est[pe$op == ":="], pe$lhs[pe$op == ":="])
  def_se <- stats::setNames(pe$se[pe$op == ":="], pe$lhs[pe$op == ":="])
  mine <- c(TE = "TE", NIEW = "NIE via W", NDEW = "NDE via W", NIEU = "NIE via U")
  expect_equal(unname(coef(eff)[mine]), unname(def[names(mine)]), tolerance = 1e-8)
  expect_equal(eff$std_error[match(mine, eff$label)], unname(def_se[names(mine)]), tolerance = 1e-6)
  # The sequential decomposition adds up to the total effect.
  dec <- decompose_effect(sem, "X", "Y", order = c("U", "W"), a = 1, a_ref = 0)
  expect_equal(sum(coef(dec)[c("PART via U", "PART via W", "PART direct")]), unname(def["TE"]),
               tolerance = 1e-10)
  expect_equal(unname(coef(dec)["PART via U"]), unname(def["NIEU"]), tolerance = 1e-8)
  pse <- path_effects(sem, "X", "Y", paths = c("X -> W -> Y", "X -> U -> W -> Y"), a = 1, a_ref = 0)
  expect_equal(unname(coef(pse)), unname(def["NIEW"]), tolerance = 1e-8)
  tab <- decomposition_table(sem, "X", "Y")
  expect_equal(tab$estimate[tab$component == "total association"], 0.405)
  expect_equal(tab$estimate[tab$component == "total effect"], unname(def["TE"]), tolerance = 1e-8)
})

test_that("linear_sem() from data matches lavaan and uses the default contrast", {
  skip_if_no_medflow()
  skip_if_not_installed("lavaan")
  d <- blau_duncan[1:2000, ]
  lav <- lavaan::sem(lavaan_model, data = d)
  pe <- lavaan::parameterEstimates(lav)
  sem <- linear_sem(bd_model, data = d, df_correction = FALSE)
  reg <- pe[pe$op == "~", ]
  ours <- sem$params[sem$params$op == "~", ]
  ours <- ours[match(paste(reg$lhs, reg$rhs), paste(ours$lhs, ours$rhs)), ]
  expect_equal(ours$est, reg$est, tolerance = 1e-8)
  expect_equal(ours$se, reg$se, tolerance = 1e-6)
  eff <- effects(sem, "X", "Y", mediators = "W")
  q <- unname(stats::quantile(d$X, c(0.75, 0.25)))
  expect_equal(c(eff$a[1], eff$a_ref[1]), q)
  expect_equal(unname(coef(eff)["TE"]), (q[1] - q[2]) * pe$est[pe$lhs == "TE"], tolerance = 1e-8)
  expect_equal(eff$estimate_sd, eff$estimate / stats::sd(d$Y), tolerance = 1e-10)
  # 95 % intervals by default, as lavaan's parameterEstimates(); level = changes them
  expect_identical(unique(eff$level), 0.95)
  te <- pe[pe$lhs == "TE" & pe$op == ":=", ]
  expect_equal(eff$ci_lower[eff$label == "TE"], (q[1] - q[2]) * te$ci.lower, tolerance = 1e-5)
  expect_equal(eff$ci_upper[eff$label == "TE"], (q[1] - q[2]) * te$ci.upper, tolerance = 1e-5)
  eff90 <- effects(sem, "X", "Y", mediators = "W", level = 0.9)
  expect_identical(unique(eff90$level), 0.9)
  expect_lt(eff90$ci_upper[1] - eff90$ci_lower[1], eff$ci_upper[1] - eff$ci_lower[1])
})

test_that("a linear SEM survives saveRDS() and is refitted when needed", {
  skip_if_no_medflow()
  sem <- linear_sem(bd_model, cor = blau_duncan_cor)
  path <- tempfile(fileext = ".rds")
  saveRDS(sem, path)
  back <- readRDS(path)
  expect_true(medflow:::py_dead(back$py))
  expect_equal(effects(back, "X", "Y", mediators = "W", a = 1, a_ref = 0),
               effects(sem, "X", "Y", mediators = "W", a = 1, a_ref = 0))
})

test_that("Python errors come back as one plain R error", {
  skip_if_no_medflow()
  sem <- linear_sem(bd_model, cor = blau_duncan_cor)
  expect_error(effects(sem, "X", "Y", a = 1), "Give both a and a_ref, or neither", fixed = TRUE)
  expect_error(path_effects(sem, "X", "Y", paths = "X -> V -> Y"),
               "X -> V -> Y is not a directed path of the model from X to Y", fixed = TRUE)
})

test_that("cde() on a linear SEM is the direct path sum and matches Python", {
  skip_if_no_medflow()
  sem <- linear_sem(bd_model, cor = blau_duncan_cor)
  res <- cde(sem, "X", "Y", m = c(W = 0), a = 1, a_ref = 0)
  expect_s3_class(res, "medflow_effects")
  expect_identical(names(res), effect_columns)
  expect_identical(res$estimand, "CDE")
  expect_identical(res$label, "CDE at W=0")
  expect_true(res$identified)
  b <- coef(sem)
  expect_equal(res$estimate, unname(b["Y ~ X"] + b["U ~ X"] * b["Y ~ U"]), tolerance = 1e-12)
  nde <- effects(sem, "X", "Y", mediators = "W", a = 1, a_ref = 0, interventional = FALSE)
  expect_equal(res$std_error, nde$std_error[nde$label == "NDE via W"], tolerance = 1e-12)
  expect_error(cde(sem, "X", "Y", m = 3), "m = must be a named numeric vector", fixed = TRUE)
  expect_error(cde(sem, "X", "Y", m = c(Q = 1)), "m = names Q, which are not variables", fixed = TRUE)
  expect_error(cde(sem, "X", "Y", m = c(X = 1)), "m = must not hold the treatment or the outcome.",
               fixed = TRUE)
})
