# The bundled COSMIC v3.4 file read here with utils::read.delim, independently of the engine.
# R's number parser is not always correctly rounded for 18 significant digits (the exome file
# has such values), so values are compared to 1e-12, labels and order exactly.
cosmic_file <- function(name) {
  bundled <- reticulate::import("sigfactor._bundled", convert = FALSE)
  path <- as.character(reticulate::py_str(bundled$bundled_path(file.path("cosmic", name))))
  table <- utils::read.delim(path, check.names = FALSE)
  values <- as.matrix(table[-1])
  rownames(values) <- table[[1]]
  values
}

test_that("SBS96 comes in MutationalPatterns' order with the file's values", {
  skip_if_no_engine()
  sbs <- cosmic_signatures()
  mm <- example_mut_matrix()
  # MutationalPatterns' row order (its example mut_matrix), not the file's lexical order.
  expect_identical(rownames(sbs), rownames(mm))
  file <- cosmic_file("COSMIC_v3.4_SBS_GRCh37.txt")
  expect_false(identical(rownames(file), rownames(mm)))
  expect_equal(sbs, file[rownames(mm), ], tolerance = 1e-12)
  expect_equal(cosmic_signatures(style = "sigprofiler"), file, tolerance = 1e-12)
  expect_equal(cosmic_signatures(build = "GRCh38"),
               cosmic_file("COSMIC_v3.4_SBS_GRCh38.txt")[rownames(mm), ], tolerance = 1e-12)
  exome <- cosmic_signatures(exome = TRUE)
  expect_equal(exome, cosmic_file("COSMIC_v3.4_SBS_GRCh37_exome.txt")[rownames(mm), ],
               tolerance = 1e-12)
  expect_false(isTRUE(all.equal(exome, sbs[, colnames(exome)])))
})

test_that("DBS78 and ID83 carry MutationalPatterns' labels, in its order", {
  skip_if_no_engine()
  dbs <- cosmic_signatures("DBS78")
  blood_dbs <- readRDS(system.file("states/blood_dbs_counts.rds", package = "MutationalPatterns"))
  expect_identical(rownames(dbs), rownames(blood_dbs))
  file <- cosmic_file("COSMIC_v3.4_DBS_GRCh37.txt")
  # 'AC>CA' in COSMIC is 'AC_CA' in MutationalPatterns.
  expect_equal(unname(dbs), unname(file[sub("_", ">", rownames(dbs)), ]), tolerance = 1e-12)
  indel <- cosmic_signatures("ID83")
  blood_indel <- readRDS(system.file("states/blood_indel_counts.rds",
                                     package = "MutationalPatterns"))
  expect_identical(rownames(indel), rownames(blood_indel))
  # MutationalPatterns' own (COSMIC v3.2, unlabelled, its order) ID signatures agree with
  # v3.4's in this order: a wrong label mapping would pair unrelated rows.
  known <- MutationalPatterns::get_known_signatures("indel")
  shared <- intersect(colnames(known), colnames(indel))
  cosine <- colSums(known[, shared] * indel[, shared]) /
    sqrt(colSums(known[, shared]^2) * colSums(indel[, shared]^2))
  expect_gt(min(cosine), 0.999)
  expect_equal(unname(colSums(indel)), rep(1, ncol(indel)), tolerance = 1e-3)
})

test_that("the reference drops into MutationalPatterns' fitting and similarity functions", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  sbs <- cosmic_signatures()[, c("SBS1", "SBS5", "SBS18", "SBS40a")]
  fit <- MutationalPatterns::fit_to_signatures(mm, sbs)
  expect_equal(refit_signatures(mm, sbs)$contribution, fit$contribution, tolerance = 1e-8)
  expect_identical(dim(MutationalPatterns::cos_sim_matrix(mm, sbs)), c(9L, 4L))
})

test_that("bad arguments give plain errors", {
  skip_if_no_engine()
  expect_error(cosmic_signatures("SBS192"),
               "kind = \"SBS192\" is not valid; expected one of \"SBS96\", \"DBS78\", \"ID83\".",
               fixed = TRUE)
  expect_error(cosmic_signatures("DBS78", build = "GRCh38"),
               "COSMIC v3.4 DBS78 signatures for build = \"GRCh38\", exome = FALSE are not bundled",
               fixed = TRUE)
  expect_error(cosmic_signatures(exome = NA), "exome = NA is not valid; expected TRUE or FALSE.",
               fixed = TRUE)
})
