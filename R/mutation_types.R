#' Mutation types in MutationalPatterns' or SigProfiler's order
#'
#' The labels of one kind of mutation catalogue, in the row order of MutationalPatterns
#' (\code{mut_matrix}, \code{count_dbs_contexts}, \code{count_indel_contexts} and
#' \code{get_known_signatures}) or of SigProfiler (COSMIC files), from the engine's table of
#' labels.
#'
#' @param kind \code{"SBS96"}, \code{"DBS78"} or \code{"ID83"}.
#' @param style \code{"mutationalpatterns"} (labels such as \code{"A[C>A]A"}, \code{"AC_CA"},
#'   \code{"C_deletion_1"}) or \code{"sigprofiler"} (\code{"A[C>A]A"}, \code{"AC>CA"},
#'   \code{"1:Del:C:0"}).
#'
#' @return A character vector of 96, 78 or 83 labels.
#' @examples
#' if (sigfactor_available()) {
#'   head(mutation_types("SBS96"))
#'   head(mutation_types("DBS78"))
#' }
#' @export
mutation_types <- function(kind = c("SBS96", "DBS78", "ID83"),
                           style = c("mutationalpatterns", "sigprofiler")) {
  kind <- match_choice(kind)
  style <- match_choice(style)
  as.character(unlist(reticulate::py_to_r(engine()$channels$order(kind, style))))
}
