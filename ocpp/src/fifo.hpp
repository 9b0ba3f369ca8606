// A FIFO on a vector: unlike std::deque it allocates nothing while empty,
// which matters with thousands of idle connections each holding two queues.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace gridgate::ocpp::detail {

template <class T>
class Fifo {
  public:
    bool empty() const { return head_ == items_.size(); }
    std::size_t size() const { return items_.size() - head_; }
    T& front() { return items_[head_]; }
    void push(T item) { items_.push_back(std::move(item)); }
    T pop() {
        T item = std::move(items_[head_++]);
        if (head_ == items_.size()) {
            // Give the storage back: an idle connection holds no queue memory.
            std::vector<T>().swap(items_);
            head_ = 0;
        }
        return item;
    }
    // Takes out the items `pred` holds for, in order; the rest stay, in order.
    template <class Pred>
    std::vector<T> take_if(Pred pred) {
        std::vector<T> taken, kept;
        for (std::size_t i = head_; i < items_.size(); ++i)
            (pred(items_[i]) ? taken : kept).push_back(std::move(items_[i]));
        items_ = std::move(kept);
        head_ = 0;
        if (items_.empty()) std::vector<T>().swap(items_);
        return taken;
    }
    template <class F>
    void for_each(F f) const {
        for (std::size_t i = head_; i < items_.size(); ++i) f(items_[i]);
    }
    // Leaves the queue empty and returns what it held, in order.
    std::vector<T> take_all() {
        std::vector<T> out;
        for (std::size_t i = head_; i < items_.size(); ++i) out.push_back(std::move(items_[i]));
        items_.clear();
        head_ = 0;
        return out;
    }

  private:
    std::vector<T> items_;
    std::size_t head_ = 0;
};

}  // namespace gridgate::ocpp::detail
