# COSMIC signatures as MutationalPatterns ships them, labelled with the example's mutation types
# (MutationalPatterns keeps both in the same order and leaves the signatures unlabelled).
known_signatures <- function(mut_matrix) {
  signatures <- MutationalPatterns::get_known_signatures()
  rownames(signatures) <- rownames(mut_matrix)
  signatures
}

# Generalized Kullback-Leibler divergence of counts from their reconstruction.
kl_divergence <- function(counts, fitted) {
  terms <- ifelse(counts > 0, counts * log(counts / fitted), 0)
  sum(terms - counts + fitted)
}

test_that("the NNLS refit agrees with MutationalPatterns::fit_to_signatures", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  signatures <- known_signatures(mm)
  ours <- refit_signatures(mm, signatures)
  theirs <- MutationalPatterns::fit_to_signatures(mm, signatures)
  expect_identical(dimnames(ours$contribution), list(colnames(signatures), colnames(mm)))
  expect_identical(dimnames(ours$reconstructed), dimnames(mm))
  expect_equal(ours$contribution, theirs$contribution, tolerance = 1e-8)
  expect_equal(ours$reconstructed, theirs$reconstructed, tolerance = 1e-8)
  expect_equal(ours$reconstructed, signatures %*% ours$contribution, tolerance = 1e-12)
})

test_that("signatures are matched to the mutation types by label", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  signatures <- known_signatures(mm)[, c("SBS1", "SBS5", "SBS18", "SBS40")]
  reference <- refit_signatures(mm, signatures)
  shuffled <- refit_signatures(mm, signatures[rev(seq_len(nrow(signatures))), ])
  expect_equal(shuffled$contribution, reference$contribution, tolerance = 1e-10)
  expect_equal(shuffled$reconstructed, reference$reconstructed, tolerance = 1e-10)
  reordered <- refit_signatures(mm[96:1, ], signatures)
  expect_identical(rownames(reordered$reconstructed), rownames(mm)[96:1])
  expect_equal(reordered$reconstructed[rownames(mm), ], reference$reconstructed,
               tolerance = 1e-10)
})

test_that("the Poisson (KL) refit lowers the divergence below the NNLS fit's", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  signatures <- known_signatures(mm)[, c("SBS1", "SBS5", "SBS18", "SBS40")]
  nnls <- refit_signatures(mm, signatures, loss = "frobenius")
  poisson <- refit_signatures(mm, signatures, loss = "kl")
  expect_true(all(poisson$contribution >= 0))
  expect_identical(dimnames(poisson$contribution), dimnames(nnls$contribution))
  expect_lt(kl_divergence(mm, poisson$reconstructed), kl_divergence(mm, nnls$reconstructed))
  expect_lt(sum((mm - nnls$reconstructed)^2), sum((mm - poisson$reconstructed)^2))
})

test_that("MutationalPatterns::get_known_signatures() is taken as it is, rows matched by MutationalPatterns' order", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  known <- MutationalPatterns::get_known_signatures()
  expect_null(rownames(known))
  ours <- refit_signatures(mm, known)
  # MutationalPatterns pairs them by position (both in its order): the same fit.
  theirs <- MutationalPatterns::fit_to_signatures(mm, known)
  expect_equal(ours$contribution, theirs$contribution, tolerance = 1e-8)
  # The unlabelled signatures are labelled by MutationalPatterns' order, not by the position of
  # mut_matrix's rows: a shuffled mut_matrix gives the same contributions (a wrong
  # implementation that copied rownames(mut_matrix) onto the signatures would not).
  set.seed(3)
  shuffled <- mm[sample(nrow(mm)), ]
  again <- refit_signatures(shuffled, known)
  expect_equal(again$contribution, ours$contribution, tolerance = 1e-10)
  expect_identical(rownames(again$reconstructed), rownames(shuffled))
})

test_that("DBS78 and ID83 signatures without rownames are matched in MutationalPatterns' order too", {
  skip_if_no_engine()
  for (kind in c("dbs", "indel")) {
    file <- if (kind == "dbs") "states/blood_dbs_counts.rds" else "states/blood_indel_counts.rds"
    counts <- readRDS(system.file(file, package = "MutationalPatterns", mustWork = TRUE))
    known <- MutationalPatterns::get_known_signatures(kind)
    expect_identical(rownames(counts), mutation_types(if (kind == "dbs") "DBS78" else "ID83"))
    ours <- refit_signatures(counts, known)
    theirs <- MutationalPatterns::fit_to_signatures(counts, known)
    expect_equal(ours$contribution, theirs$contribution, tolerance = 1e-8)
    reversed <- refit_signatures(counts[rev(seq_len(nrow(counts))), ], known)
    expect_equal(reversed$contribution, ours$contribution, tolerance = 1e-10)
  }
})

test_that("a data.frame and a SummarizedExperiment give the matrix's fit", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  signatures <- known_signatures(mm)[, c("SBS1", "SBS5", "SBS18", "SBS40")]
  reference <- refit_signatures(mm, signatures)
  expect_identical(refit_signatures(as.data.frame(mm), as.data.frame(signatures)), reference)
  se <- SummarizedExperiment::SummarizedExperiment(
    assays = list(other = mm * 2, counts = mm))
  expect_identical(refit_signatures(se, signatures, assay = "counts"), reference)
  doubled <- refit_signatures(se, signatures)
  expect_equal(doubled$contribution, 2 * reference$contribution, tolerance = 1e-8)
})

test_that("bad input gives plain errors naming the argument", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  signatures <- known_signatures(mm)[, 1:3]
  expect_error(refit_signatures(mm, as.vector(signatures)),
               "signatures is a numeric vector; expected a numeric matrix (or a data.frame or SummarizedExperiment) with mutation types as rows (rownames) and signatures as columns.",
               fixed = TRUE)
  expect_error(refit_signatures(mm, unname(signatures)[-1, ]),
               "signatures has no rownames and 95 rows; expected mutation-type rownames, or 96, 78 or 83 rows",
               fixed = TRUE)
  no_names <- signatures
  colnames(no_names) <- NULL
  expect_error(refit_signatures(mm, no_names),
               "signatures has no column names; expected one name per signature.", fixed = TRUE)
  negative <- signatures
  negative[2, 3] <- -0.5
  expect_error(refit_signatures(mm, negative),
               "signatures has 1 negative value(s), first -0.5 in signature 'SBS3', mutation type 'A[C>A]C'",
               fixed = TRUE)
  expect_error(refit_signatures(mm, signatures, loss = "l1"),
               "loss = \"l1\" is not valid; expected one of \"frobenius\", \"kl\".", fixed = TRUE)
  expect_error(refit_signatures(mm, signatures[-5, ]),
               "1 of the 96 SBS96 channels are missing: 'C[C>A]A'; expected all of them.",
               fixed = TRUE)
  with_na <- mm
  with_na[1, 1] <- NA
  expect_error(refit_signatures(with_na, signatures), "mut_matrix has 1 missing (NA) value(s)",
               fixed = TRUE)
})
