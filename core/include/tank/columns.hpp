// Fixed-size columns of one plant in a single allocation.
//
// Each column starts one cache line further into a 4 KiB page than the previous one, so
// element i of the ~50 columns never lands in the same L1 set: with one page-aligned
// allocation per column (what std::vector of a large plant gets from mmap) every column
// aliases every other and a 100,000-tank step ran 3x slower. The storage never moves
// after construction, so views into it stay valid.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>

namespace tank {

class ColumnStore {
public:
    ColumnStore(std::size_t rows, std::size_t columns)
        : rows_(rows), columns_(columns), stride_(stride_for(rows)), bytes_(new (kAlign)
              std::byte[stride_ * columns]) {
        std::memset(bytes_.get(), 0, stride_ * columns_);
    }
    ColumnStore(const ColumnStore& other) : ColumnStore(other.rows_, other.columns_) {
        std::memcpy(bytes_.get(), other.bytes_.get(), stride_ * columns_);
    }
    ColumnStore& operator=(const ColumnStore&) = delete;

    template <class T> T* column(std::size_t j) {
        return reinterpret_cast<T*>(bytes_.get() + j * stride_);
    }
    template <class T> const T* column(std::size_t j) const {
        return reinterpret_cast<const T*>(bytes_.get() + j * stride_);
    }
    std::size_t rows() const { return rows_; }

private:
    static constexpr std::size_t kPage = 4096;
    static constexpr std::size_t kLine = 64;
    static constexpr std::align_val_t kAlign{kPage};
    // Room for 8-byte elements, rounded to whole pages, plus one line of stagger.
    static std::size_t stride_for(std::size_t rows) {
        return (rows * 8 + kPage - 1) / kPage * kPage + kLine;
    }
    struct Free {
        void operator()(std::byte* p) const { ::operator delete[](p, kAlign); }
    };

    std::size_t rows_;
    std::size_t columns_;
    std::size_t stride_;
    std::unique_ptr<std::byte[], Free> bytes_;
};

}  // namespace tank
