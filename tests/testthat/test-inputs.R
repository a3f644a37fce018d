# Count matrices from a matrix, a data.frame or a SummarizedExperiment, checked before any
# fitting (refit_signatures() is the quickest engine call that goes through them).

signatures3 <- function(mm) {
  known <- cosmic_signatures()[, c("SBS1", "SBS5", "SBS40a")]
  known[rownames(mm), ]
}

test_that("a data.frame with the mutation types as its first column is read as labelled counts", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  reference <- refit_signatures(mm, signatures3(mm))
  table <- data.frame(type = rownames(mm), mm, check.names = FALSE, row.names = NULL)
  expect_identical(refit_signatures(table, signatures3(mm)), reference)
  integers <- mm
  storage.mode(integers) <- "integer"
  expect_identical(refit_signatures(integers, signatures3(mm)), reference)
  text <- as.data.frame(mm)
  text$note <- "x"
  expect_error(refit_signatures(text, signatures3(mm)),
               "mut_matrix has non-numeric column(s) 'note'; expected counts in every column",
               fixed = TRUE)
  repeated <- table
  repeated$type[2] <- repeated$type[1]
  expect_error(refit_signatures(repeated, signatures3(mm)),
               "mut_matrix's first column repeats the label 'A[C>A]A'", fixed = TRUE)
})

test_that("a SummarizedExperiment gives its assay by name or number, the first by default", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  reference <- refit_signatures(mm, signatures3(mm))
  unnamed <- SummarizedExperiment::SummarizedExperiment(assays = list(mm, 2 * mm))
  expect_identical(refit_signatures(unnamed, signatures3(mm)), reference)
  expect_identical(refit_signatures(unnamed, signatures3(mm), assay = 1), reference)
  expect_error(refit_signatures(unnamed, signatures3(mm), assay = 3),
               "assay = 3 is not an assay of mut_matrix; expected one of numbers 1 to 2 (its assays have no names).",
               fixed = TRUE)
  empty <- SummarizedExperiment::SummarizedExperiment(assays = list(), colData = S4Vectors::DataFrame(x = 1:2))
  expect_error(refit_signatures(empty, signatures3(mm)),
               "mut_matrix is a SummarizedExperiment without assays; expected one holding counts.",
               fixed = TRUE)
  expect_error(refit_signatures(mm, signatures3(mm), assay = "counts"),
               "assay = \"counts\" applies to a SummarizedExperiment; mut_matrix is a matrix.",
               fixed = TRUE)
})

test_that("wrong shapes and values are named in R's words before any fitting", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  expect_error(refit_signatures(NULL, signatures3(mm)),
               "mut_matrix is NULL; expected a numeric matrix", fixed = TRUE)
  expect_error(refit_signatures(list(1, 2), signatures3(mm)),
               "mut_matrix is a list; expected a numeric matrix", fixed = TRUE)
  expect_error(refit_signatures(t(mm), signatures3(mm)),
               "mut_matrix has samples as rows and mutation types as columns (9 x 96, column names such as 'A[C>A]A'); expected mutation types as rows: pass t(mut_matrix).",
               fixed = TRUE)
  wrong <- mm
  rownames(wrong) <- paste0("row", seq_len(nrow(mm)))
  expect_error(refit_signatures(wrong, signatures3(mm)),
               "mut_matrix's rownames ('row1', 'row2', 'row3') are not mutation types", fixed = TRUE)
  infinite <- mm
  infinite[4, 2] <- Inf
  expect_error(refit_signatures(infinite, signatures3(mm)),
               "mut_matrix has 1 infinite value(s), first in sample 'colon2', mutation type 'A[C>A]T'; expected finite counts.",
               fixed = TRUE)
})

test_that("engine messages are put in R's words", {
  r_message <- sigfactor:::r_message
  # The conversions a Python-worded message would otherwise leak.
  expect_identical(r_message("n_restarts=0 is out of range; expected True or None.",
                             c(n_restarts = "nrun")),
                   "nrun = 0 is out of range; expected TRUE or NULL.")
  expect_identical(r_message("loss='kl' is not available for model='convex'."),
                   "loss = \"kl\" is not available for model = \"convex\".")
  expect_identical(r_message("value is nan; a == b stays"), "value is NaN; a == b stays")
})
