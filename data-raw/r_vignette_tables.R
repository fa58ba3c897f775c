# Recomputes the precomputed result tables the vignettes read from
# inst/extdata/ (the vignettes must build without Python). Needs Python with
# the medflow module (RETICULATE_PYTHON). Run from the repository root:
#
#   RETICULATE_PYTHON=/path/to/python Rscript data-raw/r_vignette_tables.R
#
# Takes tens of minutes on two CPU cores (the fit and the bootstrap refits);
# set MEDFLOW_VIGNETTE_BOOT to change the number of bootstrap refits.

if (requireNamespace("pkgload", quietly = TRUE)) pkgload::load_all(".", quiet = TRUE) else library(medflow)
stopifnot(medflow_available())
out_dir <- file.path("inst", "extdata")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
write_table <- function(x, file) {
  utils::write.csv(as.data.frame(x), file.path(out_dir, file), row.names = FALSE)
  message("wrote ", file.path(out_dir, file))
}

model <- "U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X"
n_boot <- as.integer(Sys.getenv("MEDFLOW_VIGNETTE_BOOT", "20"))
seed <- 2024

# 1. The classical analysis of the published correlations (per SD of X).
published <- linear_sem(model, cor = blau_duncan_cor)
write_table(effects(published, "X", "Y", mediators = c("W", "U"), a = 1, a_ref = 0),
            "blau_duncan_published_effects.csv")

# 2. The linear SEM on the synthetic data (default contrast: 75th vs 25th percentile of X).
linear <- linear_sem(model, data = blau_duncan)
write_table(effects(linear, "X", "Y", mediators = c("W", "U")), "blau_duncan_linear_effects.csv")

# 3. The flow on the synthetic data, fitted by the package's one procedure (the
#    cross-fitted ensemble with its settings chosen from the data: medflow(model, data)
#    with no tuning arguments, as the command line and the Python library fit it).
t0 <- Sys.time()
fit <- medflow(model, blau_duncan, seed = seed, verbose = FALSE)
message("flow fitted in ", format(Sys.time() - t0))
write_table(fit$history, "blau_duncan_flow_history.csv")
t0 <- Sys.time()
flow_eff <- effects(fit, "X", "Y", mediators = c("W", "U"), n_boot = n_boot, seed = seed,
                    verbose = FALSE)
message("flow effects (", n_boot, " bootstrap refits) in ", format(Sys.time() - t0))
write_table(flow_eff, "blau_duncan_flow_effects.csv")
write_table(decompose_effect(fit, "X", "Y", order = c("U", "W"), seed = seed, verbose = FALSE),
            "blau_duncan_flow_decompose.csv")
write_table(dose_response(fit, "X", "Y", grid = seq(5, 75, by = 5), seed = seed, verbose = FALSE),
            "blau_duncan_dose_response.csv")

# 4. Sensitivity of the indirect effect through W to a hidden confounder of U and Y or of W
#    and Y (noise correlation rho; no bootstrap).
t0 <- Sys.time()
sens <- sensitivity(fit, pairs = c("U ~~ Y", "W ~~ Y"), rho = seq(-0.4, 0.4, by = 0.1),
                    treatment = "X", outcome = "Y", mediators = "W", estimands = "NIE",
                    seed = seed, verbose = FALSE)
message("sensitivity analysis in ", format(Sys.time() - t0))
write_table(sens, "blau_duncan_sensitivity.csv")
write_table(attr(sens, "rho_values"), "blau_duncan_rho_values.csv")

# 5. The true effects of the synthetic data's model, from the Python package.
truth <- utils::read.csv(file.path("python", "medflow", "data", "blau_duncan_truth.csv"))
write_table(truth, "blau_duncan_truth.csv")
