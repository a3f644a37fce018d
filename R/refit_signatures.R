#' Fit known signatures to a mutation matrix
#'
#' Finds each sample's contribution of the given signatures with the 'sigfactor' Python engine
#' (\code{sigfactor.refit}): non-negative least squares (\code{loss = "frobenius"}, the
#' default, as \code{MutationalPatterns::fit_to_signatures}) or the Poisson fit
#' (\code{loss = "kl"}, minimising the generalized Kullback-Leibler divergence).
#'
#' Rows are matched by label: the signatures' rows are matched to the rows of
#' \code{mut_matrix} by their mutation-type labels, whatever their order or label style.
#' Signatures without rownames, such as \code{MutationalPatterns::get_known_signatures()}, are
#' taken to be in MutationalPatterns' documented row order for their kind (96 rows: SBS96 as
#' \code{MutationalPatterns::mut_matrix} makes it; 78 rows: DBS78 as
#' \code{count_dbs_contexts}; 83 rows: ID83 as \code{count_indel_contexts}; see
#' \code{\link{mutation_types}}), and are labelled so before matching; \code{mut_matrix}
#' itself may then be in any order.
#'
#' @inheritParams factorize_signatures
#' @param signatures Signatures with mutation types as rows and signatures as columns (with
#'   names): a numeric matrix with rownames (any label style), a data.frame, or a matrix without
#'   rownames in MutationalPatterns' row order (see Details), such as
#'   \code{MutationalPatterns::get_known_signatures()} or \code{\link{cosmic_signatures}()}.
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
#' @seealso \code{\link{denovo_signatures}}, \code{\link{cosmic_signatures}},
#'   \code{MutationalPatterns::fit_to_signatures}
#' @examples
#' if (sigfactor_available()) {
#'   mut_mat <- read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor"))
#'   fit <- refit_signatures(mut_mat, cosmic_signatures()[, c("SBS1", "SBS2", "SBS3", "SBS5", "SBS13")])
#'   round(fit$contribution[, 1:4])
#' }
#' @export
refit_signatures <- function(mut_matrix, signatures, loss = c("frobenius", "kl"), assay = NULL) {
  loss <- match_choice(loss)
  counts <- as_count_matrix(mut_matrix, "mut_matrix", assay = assay)
  reference <- as_count_matrix(label_rows(signatures, "signatures"), "signatures",
                               what = "signature")
  catalogue <- to_engine(counts)
  reference <- to_engine(reference)
  exposures <- engine_call(engine()$refit, catalogue, reference, loss = loss,
                           names = c(X = "mut_matrix"))
  list(
    contribution = from_engine(exposures$T),
    reconstructed = from_engine(reference$dot(exposures$T), rows = rownames(counts))
  )
}

# A matrix without rownames whose row count is that of a mutation kind gets MutationalPatterns'
# labels of that kind, in MutationalPatterns' order; anything else is returned as it is.
label_rows <- function(x, name) {
  if (!is.matrix(x) || !is.null(rownames(x))) {
    return(x)
  }
  kind <- c("96" = "SBS96", "78" = "DBS78", "83" = "ID83")[as.character(nrow(x))]
  if (is.na(kind)) {
    text <- sprintf(paste0(
      "%s has no rownames and %d rows; expected mutation-type rownames, or 96, 78 or 83 rows ",
      "in MutationalPatterns' order (as get_known_signatures() gives them)."), name, nrow(x))
    stop(text, call. = FALSE)
  }
  rownames(x) <- mutation_types(kind)
  x
}
