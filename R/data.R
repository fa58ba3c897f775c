#' Blau and Duncan (1967) correlations of the status-attainment model
#'
#' The published correlation matrix of the five variables of Blau and
#' Duncan's basic model of the process of stratification, from the 1962
#' Occupational Changes in a Generation survey (OCG 1962): native, non-farm
#' background men aged 20 to 64 in the civilian non-institutional population
#' of March 1962.
#'
#' \describe{
#'   \item{V}{father's education}
#'   \item{X}{father's occupational status (Duncan socioeconomic index)}
#'   \item{U}{respondent's education}
#'   \item{W}{status of respondent's first job}
#'   \item{Y}{respondent's occupational status in 1962}
#' }
#'
#' The structural model is `U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X`.
#' It is built by `data-raw/r_data.R` from the same file the Python package
#' ships (`medflow/data/blau_duncan_correlations.csv`).
#'
#' @format A 5 x 5 numeric matrix with row and column names `V`, `X`, `U`,
#'   `W`, `Y` and the attributes `n` (the sample size, 20,700) and `source`
#'   (the citation).
#' @source Blau, P. M. and Duncan, O. D. (1967). *The American Occupational
#'   Structure*. New York: Wiley, p. 169.
#' @seealso [blau_duncan], [linear_sem()]
#' @examples
#' blau_duncan_cor
#' attr(blau_duncan_cor, "n")
"blau_duncan_cor"

#' A synthetic data set shaped like Blau and Duncan (1967)
#'
#' 20,700 simulated men with the five variables of the Blau-Duncan model,
#' coded like the OCG 1962 survey and with correlations within 0.03 of the
#' published ones ([blau_duncan_cor]). They are drawn from a nonlinear
#' structural causal model on the Blau-Duncan graph (threshold models for the
#' education codes, interactions, heteroskedastic and skewed noise, every
#' equation increasing in its own noise), so that a flow and a linear path
#' model can disagree and the true effects are known. The real OCG 1962
#' microdata may not be redistributed.
#'
#' The data are drawn by the Python package (`simulate("blau_duncan", 20700,
#' seed = 1967)`) and stored there as `medflow/data/blau_duncan_synthetic.csv`;
#' `data-raw/r_data.R` builds this data.frame from that same file. The true
#' effects of `X` on `Y` are in the Python function
#' `medflow.datasets.blau_duncan_truth()` and in
#' `system.file("extdata", "blau_duncan_truth.csv", package = "medflow")`.
#'
#' @format A data.frame with 20,700 rows and five integer columns:
#'   \describe{
#'     \item{V}{father's education, code 0-8}
#'     \item{X}{father's occupational status (SEI, 0-96)}
#'     \item{U}{son's education, code 0-8}
#'     \item{W}{status of son's first job (SEI, 0-96)}
#'     \item{Y}{son's occupational status in 1962 (SEI, 0-96)}
#'   }
#' @source Simulated with the Python package medflow.
#' @seealso [blau_duncan_cor]
#' @examples
#' head(blau_duncan)
#' round(cor(blau_duncan) - blau_duncan_cor, 3)
"blau_duncan"
