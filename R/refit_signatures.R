#' Fit known signatures to a mutation matrix
#'
#' Finds each sample's contribution of the given signatures with the 'sigfactor' Python engine
#' (\code{sigfactor.refit}): non-negative least squares (\code{loss = "frobenius"}, as
#' \code{MutationalPatterns::fit_to_signatures}) or the Poisson fit (\code{loss = "kl"},
#' minimising the generalized Kullback-Leibler divergence).
#'
#' Rows are matched by label: the signatures' rows are matched to the rows of
#' \code{mut_matrix} by their mutation-type labels, whatever their order or label style.
#'
#' @param mut_matrix Numeric matrix of mutation counts, mutation types as rows (rownames) and
#'   samples as columns (with names).
#' @param signatures Numeric matrix of signatures, mutation types as rows (rownames) and
#'   signatures as columns (with names); a row for every mutation type of \code{mut_matrix}.
#' @param loss \code{"frobenius"} (non-negative least squares) or \code{"kl"} (Poisson).
#'
#' @return A named list:
#' \describe{
#'   \item{contribution}{Signatures x samples matrix of contributions.}
#'   \item{reconstructed}{Mutation types x samples matrix,
#'     \code{signatures \%*\% contribution} (computed by the engine), rows as in
#'     \code{mut_matrix}.}
#' }
#'
#' @seealso \code{\link{factorize_signatures}}, \code{MutationalPatterns::fit_to_signatures}
#' @examples
#' \dontrun{
#' mut_mat <- readRDS(system.file("states/mut_mat_data.rds",
#'   package = "MutationalPatterns"
#' ))
#' signatures <- MutationalPatterns::get_known_signatures()
#' rownames(signatures) <- rownames(mut_mat)
#' fit <- refit_signatures(mut_mat, signatures)
#' MutationalPatterns::plot_contribution(fit$contribution, mode = "absolute")
#' }
#' @export
refit_signatures <- function(mut_matrix, signatures, loss = c("frobenius", "kl")) {
  loss <- match_choice(loss)
  catalogue <- to_engine(mut_matrix, "mut_matrix")
  reference <- to_engine(signatures, "signatures", what = "signature")
  exposures <- engine_call(engine()$refit, catalogue, reference, loss = loss)
  list(
    contribution = from_engine(exposures$T),
    reconstructed = from_engine(reference$dot(exposures$T), rows = rownames(mut_matrix))
  )
}
