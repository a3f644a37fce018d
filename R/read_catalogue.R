#' Read a mutation catalogue file
#'
#' Reads a catalogue with the 'sigfactor' Python engine (\code{sigfactor.read_catalogue}):
#' SigProfiler matrices (\code{.txt}, \code{.all}), MutationalPatterns tables, PCAWG/TCGA
#' \code{.csv}, sigfit-style tables, \code{.h5ad} and \code{.rds} files, SBS96, DBS78 or ID83,
#' in either orientation. Channel labels of any supported style are recognised and every
#' channel must be present once.
#'
#' @param path Path to the catalogue file.
#' @param style Label style and row order of the result: \code{"mutationalpatterns"} (the
#'   order of \code{MutationalPatterns::mut_matrix}, which MutationalPatterns' functions
#'   assume) or \code{"sigprofiler"} (SigProfiler's labels and order).
#'
#' @return A numeric matrix of counts, mutation types as rows and samples as columns.
#'
#' @seealso \code{\link{denovo_signatures}}, \code{\link{write_anndata}}
#' @examples
#' if (sigfactor_available()) {
#'   path <- system.file("extdata", "breast21_SBS96.txt", package = "sigfactor")
#'   mut_mat <- read_catalogue(path)
#'   mut_mat[1:4, 1:3]
#' }
#' @export
read_catalogue <- function(path, style = c("mutationalpatterns", "sigprofiler")) {
  style <- match_choice(style)
  if (!is.character(path) || length(path) != 1 || is.na(path)) {
    stop(sprintf("path = %s is not valid; expected the path of a catalogue file.", shown(path)),
         call. = FALSE)
  }
  sigfactor <- engine()
  catalogue <- engine_call(sigfactor$read_catalogue, path.expand(path))
  rows <- unlist(reticulate::py_to_r(sigfactor$channels$order(catalogue$kind, style)))
  from_engine(catalogue$to_frame(), rows = rows)
}
