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

#' Real status-attainment data: men in the General Social Survey, 2006-2010
#'
#' 1,501 men aged 25 to 64 from the first wave of the General Social Survey
#' (GSS) panels that began in 2006, 2008 and 2010, one row per respondent,
#' with father's education and occupation and their own education and
#' occupation all present (unweighted). These are real, public microdata for
#' the Blau-Duncan model without its first job: the GSS never asked for the
#' first job, so `W` is absent and the model is
#' `U ~ V + X; Y ~ U + X; V ~~ X`, with education `U` the mediator of
#' father's occupation `X`. Questions about the first job (effects via `W`)
#' need the OCG 1962 microdata or a similar file.
#'
#' The rows are those of the GSS panel files as distributed with the gssr R
#' package, filtered to men aged 25-64 with non-missing `PAEDUC`, `PASEI10`,
#' `EDUC` and `SEI10`; nothing else is dropped or recoded. The Python package
#' ships the same rows (`medflow.datasets.gss_status_attainment()`, file
#' `medflow/data/gss_status_attainment.csv`, built by
#' `data-raw/gss_status_attainment.py`); `data-raw/r_data.R` builds this
#' data.frame from that file. Their correlations: V-X .576, V-U .533,
#' X-U .379, U-Y .599, X-Y .328, V-Y .384.
#'
#' @format A data.frame with 1,501 rows and 9 columns, and the attributes
#'   `source` and `citation`:
#'   \describe{
#'     \item{V}{father's highest year of school completed (GSS `PAEDUC`, 0-20)}
#'     \item{X}{father's occupation, socioeconomic index (GSS `PASEI10`, 2010
#'       scores)}
#'     \item{U}{respondent's highest year of school completed (GSS `EDUC`,
#'       0-20)}
#'     \item{Y}{respondent's occupation, socioeconomic index (GSS `SEI10`, 2010
#'       scores)}
#'     \item{year}{survey year of the panel's first wave (2006, 2008, 2010)}
#'     \item{age}{respondent's age in years (25-64)}
#'     \item{race}{respondent's race: 1 white, 2 black, 3 other}
#'     \item{papres10}{father's occupational prestige (GSS `PAPRES10`, 2010
#'       scores), an alternative to `X`}
#'     \item{prestg10}{respondent's occupational prestige (GSS `PRESTG10`,
#'       2010 scores), an alternative to `Y`}
#'   }
#' @source Smith, T. W., Davern, M., Freese, J., and Morgan, S. L. General
#'   Social Surveys, 1972-2024 \[machine-readable data file\]. NORC at the
#'   University of Chicago. Cite NORC and the GSS when you use these data.
#' @seealso [blau_duncan] (synthetic, with the first job and known effects)
#' @examples
#' dim(gss_status_attainment)
#' round(cor(gss_status_attainment[, c("V", "X", "U", "Y")]), 3)
#' gss_model <- "U ~ V + X; Y ~ U + X; V ~~ X"
"gss_status_attainment"
